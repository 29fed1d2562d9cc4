//! What `secagg simulate` prints: progress on stderr, the table or the JSON report.

use core::fmt::Write as _;
use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secagg::sim::{self, RoundReport};
use secagg::{ClientId, MaskSuite, Neighbourhood, Output, Params, ThreatModel};
use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};

use super::Setup;

/// Bytes of keystream the rate probe writes per pass.
const KEYSTREAM_PROBE_BYTES: usize = 64 << 20;

/// The sum, and whether it equals the plain sum; or why the session aborted.
pub(super) type Outcome<'a> = Result<(&'a Output, bool), String>;

/// The yardstick of a run: the raw keystream rate of its cipher on one core, and the cores
/// the server spreads over.
#[derive(Debug, Clone, Copy)]
pub(super) struct Speed {
    /// Bytes per second.
    rate: f64,
    server_cores: usize,
}

impl Speed {
    /// The raw keystream rate of the session's cipher on one core, measured in this run: the
    /// yardstick of the ideal times the report prints.
    pub(super) fn measure(params: &Params) -> Self {
        Self {
            rate: sim::keystream_rate(params.mask_suite(), KEYSTREAM_PROBE_BYTES),
            server_cores: sim::server_threads(),
        }
    }

    /// Seconds one client would take to read `bytes` of keystream on its one core.
    fn client_ideal(self, bytes: f64) -> f64 {
        bytes / self.rate
    }

    /// Seconds the server would take to read `bytes` of keystream on all its cores.
    fn server_ideal(self, bytes: f64) -> f64 {
        bytes / (self.rate * self.server_cores as f64)
    }

    /// `"s"` unless the server has one core.
    fn plural(self) -> &'static str {
        if self.server_cores == 1 { "" } else { "s" }
    }
}

/// Progress on stderr: one bar per round, drawn only on a terminal and never with `--json`.
#[derive(Debug)]
pub(super) struct Progress {
    bar: ProgressBar,
    round: String,
}

impl Progress {
    /// A bar on stderr if `wanted` and stderr is a terminal, hidden otherwise.
    pub(super) fn new(wanted: bool) -> Self {
        let target = if wanted && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:<32} [{bar:30}] {pos}/{len} clients {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self {
            bar,
            round: String::new(),
        }
    }

    /// Called by the driver before each client's step.
    pub(super) fn update(&mut self, name: &str, done: usize, total: usize) {
        if name != self.round {
            self.round = name.to_owned();
            self.bar.reset();
            self.bar.set_message(self.round.clone());
            self.bar.set_length(total as u64);
        }
        self.bar.set_position(done as u64);
    }

    /// Clears the bar once the session is over.
    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A finished run, ready to print.
#[derive(Debug)]
pub(super) struct Run<'a> {
    pub(super) setup: &'a Setup,
    pub(super) rounds: &'a [RoundReport],
    /// The process's peak resident bytes in each round, by round name (empty where it
    /// cannot be read).
    pub(super) peaks: &'a [(String, u64)],
    /// With `--sample-clients`: who was measured.
    pub(super) sampled: Option<Sampled<'a>>,
    pub(super) elapsed: f64,
    pub(super) speed: Speed,
}

/// Who a sampled run measured (`--sample-clients`).
#[derive(Debug)]
pub(super) struct Sampled<'a> {
    /// The clients run through every round.
    pub(super) measured: &'a [ClientId],
    /// How many of their neighbours ran share_keys.
    pub(super) neighbours: usize,
    /// With `--stand-ins`: how many clients the simulator stood in for in every round
    /// after advertise_keys (0 otherwise).
    pub(super) stand_ins: usize,
}

/// `complete` or `harary`.
fn graph_name(n: Neighbourhood) -> &'static str {
    match n {
        Neighbourhood::Complete => "complete",
        Neighbourhood::Harary { .. } => "harary",
    }
}

/// The degree: `k` on a sparse graph, `n - 1` on the complete one.
fn neighbours(p: &Params) -> usize {
    p.share_holders() - 1
}

/// The threat model's name.
fn threat_name(p: &Params) -> &'static str {
    match p.threat_model() {
        ThreatModel::HonestButCurious => "honest-but-curious",
        ThreatModel::Malicious => "malicious",
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Run<'_> {
    /// The header line describing the session.
    fn describe(&self) -> String {
        let p = &self.setup.params;
        format!(
            "session {}: {} clients, {} elements, modulus {}, {} graph (degree {}), threshold \
             {}, {} server, seed {}\n",
            hex(&p.session().0[..8]),
            p.clients(),
            p.vector_len(),
            crate::modulus_text(p.modulus()),
            graph_name(p.neighbourhood()),
            neighbours(p),
            p.threshold(),
            threat_name(p),
            self.setup.seed
        )
    }

    /// The human-readable report: the header and the rounds, then the sum if there is one.
    pub(super) fn human(&self, outcome: &Outcome<'_>) -> String {
        let mut s = self.describe();
        match outcome {
            Ok((output, verified)) => {
                s.push('\n');
                s.push_str(&human_rounds(self.rounds, self.peaks));
                s.push('\n');
                s.push_str(&self.human_result(output, *verified));
            }
            Err(_) => {
                s.push('\n');
                s.push_str(&human_rounds(self.rounds, self.peaks));
            }
        }
        s
    }

    /// The lines after the table of a finished session.
    fn human_result(&self, output: &Output, verified: bool) -> String {
        let drops = self.setup.sim.drops();
        let per_round: Vec<String> = sim::ROUNDS
            .iter()
            .map(|round| {
                let k = drops.values().filter(|r| *r == round).count();
                format!("{k} at {round}")
            })
            .collect();
        let mut s = format!("dropped:  {} ({})\n", drops.len(), per_round.join(", "));
        s.push_str(&keystream_lines(self.rounds, self.speed));
        let n = output.included.len();
        let _ = writeln!(s, "included: {n}");
        let shown: Vec<String> = output.sum.iter().take(6).map(u64::to_string).collect();
        let more = if output.sum.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        let _ = writeln!(s, "sum:      [{}{more}]", shown.join(", "));
        let _ = writeln!(s, "total:    {:.3} s", self.elapsed);
        if verified {
            let _ = writeln!(
                s,
                "verified: sum equals the plain sum of the {n} included inputs"
            );
        } else {
            let _ = writeln!(s, "NOT VERIFIED: sum differs from the plain sum");
        }
        s
    }

    /// The human-readable report of a sampled run: the header, the measured clients and the
    /// rounds (after advertise_keys, the measured clients' means).
    pub(super) fn human_sampled(&self, outcome: &Result<(), String>) -> String {
        let mut s = self.describe();
        if let Some(sampled) = &self.sampled {
            let shown: Vec<String> = sampled
                .measured
                .iter()
                .take(8)
                .map(|id| id.0.to_string())
                .collect();
            let more = if sampled.measured.len() > shown.len() {
                ", ..."
            } else {
                ""
            };
            if sampled.stand_ins > 0 {
                let _ = writeln!(
                    s,
                    "sampled: {} measured clients [{}{more}], the simulator stood in for the \
                     other {}; rounds after advertise_keys count the measured clients only, and \
                     the server's figures are those of the whole session",
                    sampled.measured.len(),
                    shown.join(", "),
                    sampled.stand_ins
                );
            } else {
                let _ = writeln!(
                    s,
                    "sampled: {} measured clients [{}{more}], {} neighbours ran share_keys; \
                     rounds after advertise_keys count the measured clients only, and the \
                     server's figures there cover only the clients that ran",
                    sampled.measured.len(),
                    shown.join(", "),
                    sampled.neighbours
                );
            }
        }
        s.push('\n');
        s.push_str(&human_rounds(self.rounds, self.peaks));
        let _ = writeln!(s, "total:    {:.3} s", self.elapsed);
        match &self.sampled {
            Some(sampled) if outcome.is_ok() && sampled.stand_ins > 0 => s.push_str(
                "no sum: the server rebuilt and checked every secret and removed the masks, but \
                 the stand-ins add none, so its sum is not the clients'\n",
            ),
            _ if outcome.is_ok() => s.push_str(
                "no sum: a sampled session stops once the measured clients have unmasked\n",
            ),
            _ => {}
        }
        s
    }

    /// The JSON report of a sampled run: as [`Run::json`], with the measured clients and
    /// no sum.
    pub(super) fn json_sampled<'a>(&'a self, outcome: &Result<(), String>) -> JsonReport<'a> {
        /// No sum: the fields of a finished session stay out of the report.
        static NO_SUM: Outcome<'static> = Err(String::new());
        let mut report = self.json(&NO_SUM);
        report.error = outcome.as_ref().err().cloned();
        report
    }

    /// The JSON report: the session, the rounds that ran, then the sum or the error.
    pub(super) fn json<'a>(&'a self, outcome: &'a Outcome<'a>) -> JsonReport<'a> {
        let p = &self.setup.params;
        let drops = self.setup.sim.drops();
        let (included, verified, sum, error) = match outcome {
            Ok((output, verified)) => (
                Some(ids(&output.included)),
                Some(*verified),
                Some(output.sum.as_slice()),
                (!verified).then(|| "sum differs from the plain sum".to_owned()),
            ),
            Err(e) => (None, None, None, Some(e.clone())),
        };
        JsonReport {
            clients: p.clients(),
            dim: p.vector_len(),
            modulus: p.modulus().value(),
            threshold: p.threshold(),
            graph: graph_name(p.neighbourhood()),
            suite: match p.mask_suite() {
                MaskSuite::ChaCha20 => "chacha20",
                MaskSuite::Aes128Ctr => "aes128ctr",
            },
            neighbours: neighbours(p),
            threat_model: threat_name(p),
            seed: self.setup.seed,
            session: hex(&p.session().0),
            dropped: ids(drops.keys()),
            dropped_by_round: DroppedByRound(
                sim::ROUNDS
                    .iter()
                    .map(|round| {
                        let in_round = drops.iter().filter(|(_, r)| *r == round);
                        (round.to_string(), ids(in_round.map(|(id, _)| id)))
                    })
                    .collect(),
            ),
            client_threads: self.setup.threads,
            server_threads: self.speed.server_cores,
            keystream_bytes_per_second: self.speed.rate,
            rounds: self
                .rounds
                .iter()
                .map(|r| JsonRound::new(r, self.speed, peak(self.peaks, r)))
                .collect(),
            total_seconds: self.elapsed,
            sampled_clients: self.sampled.as_ref().map(|s| ids(s.measured)),
            sampled_neighbours: self.sampled.as_ref().map(|s| s.neighbours),
            sampled_stand_ins: self.sampled.as_ref().map(|s| s.stand_ins),
            included,
            verified,
            sum,
            error,
        }
    }
}

/// Client ids as numbers.
fn ids<'a>(ids: impl IntoIterator<Item = &'a ClientId>) -> Vec<u32> {
    ids.into_iter().map(|id| id.0).collect()
}

/// Keystream each side expanded, the effective rate, and the time against the ideal (the
/// raw keystream of the same bytes at the rate measured in this run), from the rounds that
/// mask.
fn keystream_lines(rounds: &[RoundReport], speed: Speed) -> String {
    let mut s = format!(
        "raw keystream: {:.2} GB/s on one core (best of 9 passes in this run); server on {} core{}\n",
        speed.rate / 1e9,
        speed.server_cores,
        speed.plural()
    );
    for r in rounds {
        let client = r.client_mask_expansions * r.mask_bytes as f64;
        if client > 0.0 && r.client_seconds > 0.0 {
            let ideal = speed.client_ideal(client);
            let _ = writeln!(
                s,
                "keystream: {:.1} MB per client in {}: {:.4} s, {:.2} GB/s effective; ideal {:.4} s \
                 on one core, {:.2}x (key agreements and share decryption included)",
                client / 1e6,
                r.round,
                r.client_seconds,
                client / r.client_seconds / 1e9,
                ideal,
                r.client_seconds / ideal
            );
        }
        let server = r.server_mask_expansions as f64 * r.mask_bytes as f64;
        if server > 0.0 && r.server_seconds > 0.0 {
            let ideal = speed.server_ideal(server);
            let _ = writeln!(
                s,
                "keystream: {:.1} MB on the server in {}: {:.3} s, {:.2} GB/s effective; ideal \
                 {:.3} s on {} core{}, {:.2}x (key agreements and reconstruction included)",
                server / 1e6,
                r.round,
                r.server_seconds,
                server / r.server_seconds / 1e9,
                ideal,
                speed.server_cores,
                speed.plural(),
                r.server_seconds / ideal
            );
        }
    }
    s
}

/// The process's peak resident bytes in round `r`, if measured.
fn peak(peaks: &[(String, u64)], r: &RoundReport) -> Option<u64> {
    let name = r.round.to_string();
    peaks.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// The per-round table.
fn human_rounds(rounds: &[RoundReport], peaks: &[(String, u64)]) -> String {
    let mut s = format!(
        "{:<16}{:>8}{:>18}{:>14}{:>12}{:>16}{:>16}{:>12}{:>12}\n",
        "round",
        "clients",
        "client s (mean)",
        "server s",
        "(close)",
        "sent B/client",
        "recv B/client",
        "masks/cl",
        "masks/srv"
    );
    for r in rounds {
        let _ = writeln!(
            s,
            "{:<16}{:>8}{:>18.6}{:>14.6}{:>12.6}{:>16.0}{:>16.0}{:>12.1}{:>12}",
            r.round.to_string(),
            r.clients,
            r.client_seconds,
            r.server_seconds,
            r.server_close_seconds,
            r.bytes_sent_per_client,
            r.bytes_received_per_client,
            r.client_mask_expansions,
            r.server_mask_expansions
        );
        for rejected in &r.rejected {
            let _ = writeln!(s, "  {rejected}");
        }
    }
    if !peaks.is_empty() {
        s.push_str("peak resident memory of the process (server and simulated clients):\n");
        for r in rounds {
            if let Some(bytes) = peak(peaks, r) {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>10.1} MiB",
                    r.round.to_string(),
                    bytes as f64 / 1048576.0
                );
            }
        }
    }
    if rounds.iter().any(|r| r.server_state_bytes > 0) {
        s.push_str("saved states (sealed bytes, --restart-every-round):\n");
        for r in rounds {
            let _ = writeln!(
                s,
                "  {:<16} client (mean) {:>12.0}   server {:>12}",
                r.round.to_string(),
                r.client_state_bytes,
                r.server_state_bytes
            );
        }
    }
    s
}

/// The JSON report of `simulate --json` (field order as printed; non-finite floats become
/// `null`).
#[derive(Debug, Serialize)]
pub(super) struct JsonReport<'a> {
    clients: usize,
    dim: usize,
    modulus: u128,
    threshold: usize,
    graph: &'static str,
    suite: &'static str,
    neighbours: usize,
    threat_model: &'static str,
    seed: u64,
    session: String,
    dropped: Vec<u32>,
    dropped_by_round: DroppedByRound,
    client_threads: usize,
    server_threads: usize,
    keystream_bytes_per_second: f64,
    rounds: Vec<JsonRound>,
    total_seconds: f64,
    /// With `--sample-clients`: the measured clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled_clients: Option<Vec<u32>>,
    /// With `--sample-clients`: how many of their neighbours ran share_keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled_neighbours: Option<usize>,
    /// With `--sample-clients`: how many clients the simulator stood in for in every round
    /// after advertise_keys (`--stand-ins`; 0 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled_stand_ins: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    included: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sum: Option<&'a [u64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The dropped ids of each round, keyed by round name in protocol order.
#[derive(Debug)]
struct DroppedByRound(Vec<(String, Vec<u32>)>);

impl Serialize for DroppedByRound {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (round, ids) in &self.0 {
            map.serialize_entry(round, ids)?;
        }
        map.end()
    }
}

/// One round's figures.
#[derive(Debug, Serialize)]
struct JsonRound {
    name: String,
    clients: usize,
    client_seconds: f64,
    server_seconds: f64,
    server_close_seconds: f64,
    bytes_sent_per_client: f64,
    client_mask_expansions: f64,
    client_keystream_bytes: f64,
    server_keystream_bytes: u64,
    server_mask_expansions: usize,
    client_ideal_seconds: f64,
    server_ideal_seconds: f64,
    bytes_received_per_client: f64,
    client_state_bytes: f64,
    server_state_bytes: usize,
    /// The process's peak resident bytes in this round (Linux), server and simulated
    /// clients together.
    #[serde(skip_serializing_if = "Option::is_none")]
    process_peak_bytes: Option<u64>,
    rejected: Vec<String>,
}

impl JsonRound {
    fn new(r: &RoundReport, speed: Speed, process_peak_bytes: Option<u64>) -> Self {
        let client_keystream = r.client_mask_expansions * r.mask_bytes as f64;
        let server_keystream = r.server_mask_expansions as f64 * r.mask_bytes as f64;
        Self {
            name: r.round.to_string(),
            clients: r.clients,
            client_seconds: r.client_seconds,
            server_seconds: r.server_seconds,
            server_close_seconds: r.server_close_seconds,
            bytes_sent_per_client: r.bytes_sent_per_client,
            client_mask_expansions: r.client_mask_expansions,
            client_keystream_bytes: client_keystream,
            server_keystream_bytes: r.server_mask_expansions as u64 * r.mask_bytes,
            server_mask_expansions: r.server_mask_expansions,
            client_ideal_seconds: speed.client_ideal(client_keystream),
            server_ideal_seconds: speed.server_ideal(server_keystream),
            bytes_received_per_client: r.bytes_received_per_client,
            client_state_bytes: r.client_state_bytes,
            server_state_bytes: r.server_state_bytes,
            process_peak_bytes,
            rejected: r.rejected.iter().map(ToString::to_string).collect(),
        }
    }
}
