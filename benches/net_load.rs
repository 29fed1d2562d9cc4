//! Load of the networked driver (issue 14 §3; a benchmark, not a test): one session of `N`
//! clients over loopback mutual TLS against a `secagg serve` process, SecAgg+ with the
//! finder's `k` (5% dropout, 5% corruption), no client dropping. It prints the wall time,
//! per-round client latency percentiles (a client's time from the round's opening message,
//! or from `Join`, to the reply to its answer, which the server gives once the round
//! closed, with the next round's opening: `Submit` with `then_await`), the
//! server's peak memory (VmHWM), the wire bytes carried against the version-3 formulas,
//! the outcome's bytes (the sum bit-packed at the modulus' width), the loopback interface's
//! bytes (TLS, HTTP/2, TCP and IP included), and `secagg simulate` for the same session. The
//! deployment (certificates, state key, `server.toml`) is `secagg::net::testing::Deployment`'s,
//! as the tests'.
//!
//! It runs `NET_LOAD_RUNS` (default 3) networked sessions and as many simulations, the two
//! alternating, and gives each run's ratios and their medians: the machine's speed drifts by
//! more than the difference measured.
//!
//! Like for like: the clients draw their inputs as the simulator does
//! (`secagg::sim::seeded_input`), and the simulator is measured by its session alone (its
//! `total_seconds`, and its process' CPU less the one-threaded work outside the session: a
//! 64 MiB × 9 keystream probe for its report, the check of its sum, the JSON), not by its
//! whole process, which would flatter the ratio (0.4 s of probe alone).
//!
//! ```sh
//! NET_LOAD_CLIENTS=1000 NET_LOAD_DIM=10000 cargo bench --features net,cli --bench net_load
//! NET_LOAD_CLIENTS=100 NET_LOAD_DIM=1000000 cargo bench --features net,cli --bench net_load
//! ```
//!
//! Run it in the `bench` profile (the default of `cargo bench`: release, with line tables), in
//! which both sides are built as they ship: the dev profile leaves the gRPC stack unoptimised
//! (Cargo.toml), so it would charge the network for a debug build.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand_core::SeedableRng as _;
use secagg::finder::{FinderInput, find};
use secagg::net::testing::{Deployment, listening_addr};
use secagg::net::{ClientConfig, Connection, Outcome, proto};
use secagg::protocol::session::ClientSession;
use secagg::sim::seeded_input;
use secagg::{ClientId, Params, SessionId, ThreatModel};

/// The seed of the clients' inputs (`secagg::sim::seeded_input`).
const INPUT_SEED: u64 = 0x10ad;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes received on the loopback interface so far.
fn loopback_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("lo:")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|b| b.parse().ok())
        })
        .unwrap_or(0)
}

/// VmHWM of a process, in MiB.
fn peak_mib(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The CPU seconds of a `/proc/.../stat` line: (utime + stime, cutime + cstime), in clock
/// ticks of 1/100 s; less sensitive to the machine's other load than wall time.
fn stat_cpu_seconds(path: &str) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime is field 14 of the line.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (tick(11) + tick(12), tick(13) + tick(14))
}

/// CPU seconds (user + system) of process `pid` so far.
fn process_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat")).0
}

/// CPU seconds of this process, and of its waited-for children, so far.
fn cpu_seconds() -> (f64, f64) {
    stat_cpu_seconds("/proc/self/stat")
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[derive(Default)]
struct Traffic {
    sent: u64,
    received: u64,
    /// Bytes of the outcomes (the sum bit-packed at the modulus' width, and the included ids).
    outcomes: u64,
    /// `(round, seconds from the opening to the reply that carries the next one)`.
    latencies: Vec<(u32, f64)>,
}

async fn client(
    config: ClientConfig,
    id: u32,
    traffic: Arc<Mutex<Traffic>>,
) -> (Params, Option<Vec<u64>>) {
    let mut conn = Connection::new(&config, id).unwrap();
    let mut opened = Instant::now();
    let join = conn.join().await.unwrap();
    let sid = SessionId(join.session.clone().try_into().unwrap());
    let params = Params::from_bytes(&join.params).unwrap();
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(u64::from(id));
    let (mut state, mut message) = ClientSession::start(&params, ClientId(id), None, &mut rng);
    // Drawn as the simulator draws its clients' inputs (ChaCha20, `d` uniform elements),
    // so that both sides pay the same for them.
    let input = seeded_input(&params, INPUT_SEED, ClientId(id));
    let input = input.as_slice();
    let mut round = 0u32;
    let mut local = Traffic::default();
    // At most five rounds (AdvertiseKeys to Unmasking), then the outcome.
    for _ in 0..=5 {
        local.sent += message.len() as u64;
        // One call a round, as `Client::run` makes: the reply comes once the round closed,
        // with what opens the next one.
        let reply = conn.submit_then_await(&sid, round, message).await.unwrap();
        assert_eq!(reply.refusal, 0, "{}", reply.detail);
        local
            .latencies
            .push((round, opened.elapsed().as_secs_f64()));
        opened = Instant::now();
        match reply.next.and_then(|n| n.next).unwrap() {
            proto::Next::Opening(o) => {
                local.received += o.message.len() as u64;
                let (s, m) = if state.needs_input() {
                    state
                        .handle_with_input(&params, &o.message, input, &mut rng)
                        .unwrap()
                } else {
                    state.handle(&params, &o.message, &mut rng).unwrap()
                };
                state = s;
                message = m;
                round = o.round;
            }
            proto::Next::Outcome(o) => {
                let mut t = traffic.lock().unwrap();
                t.sent += local.sent;
                t.received += local.received;
                if let Some(proto::OutcomeResult::Sum(s)) = &o.result {
                    t.outcomes += (s.packed.len() + 4 * s.included.len()) as u64;
                }
                t.latencies.extend(local.latencies);
                let sum = match Outcome::from_proto(&o, &params).unwrap() {
                    Outcome::Sum { sum, .. } => Some(sum),
                    Outcome::Aborted { .. } => None,
                };
                return (params, sum);
            }
        }
    }
    panic!("client {id}: no outcome after five rounds")
}

/// One session's shape: `n` clients, `d` elements, the finder's `k` and `t`.
#[derive(Clone, Copy)]
struct Shape {
    n: usize,
    d: usize,
    k: usize,
    t: usize,
    /// `k + 1 >= n`: every client is every other's neighbour (no `--neighbours`).
    complete: bool,
}

/// What one networked session measured.
struct Networked {
    wall: f64,
    clients_cpu: f64,
    server_cpu: f64,
    peak: f64,
    loopback: u64,
    traffic: Traffic,
}

/// One networked session: a fresh deployment (certificates, state key, database) and
/// server process, `n` client tasks in this process; every client's sum is checked.
fn networked(shape: Shape) -> Networked {
    let Shape {
        n,
        d,
        k,
        t,
        complete,
    } = shape;
    // Certificates, a state key and the server's configuration in a temporary folder;
    // port 0: the server process prints the address it got.
    let deployment = Deployment::new(n).unwrap();
    let mut server_config = deployment.server_config(d, 600.0, 0);
    server_config.session.threshold = Some(t);
    if !complete {
        server_config.session.neighbours = Some(k);
    }
    let toml = deployment.write_server_toml(&server_config).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_secagg"))
        .args(["serve", "--log", "warn", "--config"])
        .arg(toml)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    deployment.learn(listening_addr(&line).unwrap_or_else(|| panic!("{line}")));
    let config = ClientConfig {
        give_up_after: 3600.0,
        ..deployment.client_config().unwrap()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let traffic = Arc::new(Mutex::new(Traffic::default()));
    let lo_before = loopback_bytes();
    let start = Instant::now();
    let clients_cpu_at_start = cpu_seconds().0;
    // The server's CPU from here (it has started: certificates read, database open) to the
    // last outcome, not its start or its end.
    let server_cpu_at_start = process_cpu_seconds(server.id());
    // Every call of a client waits for the server's round deadlines (600 s each) at most;
    // the whole session is bounded too.
    let sums = runtime.block_on(async {
        let tasks: Vec<_> = (1..=u32::try_from(n).unwrap())
            .map(|id| tokio::spawn(client(config.clone(), id, Arc::clone(&traffic))))
            .collect();
        let all = async {
            let mut sums = Vec::new();
            for t in tasks {
                sums.push(t.await.unwrap());
            }
            sums
        };
        tokio::time::timeout(core::time::Duration::from_secs(3000), all)
            .await
            .expect("the session did not end within 3000 s")
    });
    let wall = start.elapsed().as_secs_f64();
    let loopback = loopback_bytes() - lo_before;
    let peak = peak_mib(server.id());
    let server_cpu = process_cpu_seconds(server.id()) - server_cpu_at_start;
    let clients_cpu = cpu_seconds().0 - clients_cpu_at_start;
    let _ = server.kill();
    let _ = server.wait();
    drop(runtime);

    // Every client saw the same sum, and it is the plain sum.
    let params = sums[0].0.clone();
    let mut want = vec![0u64; d];
    for id in 1..=u32::try_from(n).unwrap() {
        let input = seeded_input(&params, INPUT_SEED, ClientId(id));
        for (w, x) in want.iter_mut().zip(input.as_slice()) {
            *w = (*w + x) % (1 << 32);
        }
    }
    for (_, s) in &sums {
        assert_eq!(s.as_deref(), Some(want.as_slice()), "the sum");
    }
    let traffic = core::mem::take(&mut *traffic.lock().unwrap());
    Networked {
        wall,
        clients_cpu,
        server_cpu,
        peak,
        loopback,
        traffic,
    }
}

/// `secagg simulate` for the same session.
struct Simulated {
    args: Vec<String>,
    /// The process: wall and CPU seconds.
    process_wall: f64,
    process_cpu: f64,
    /// The session alone: its wall time as the simulator reports it (`total_seconds`: the
    /// rounds, without the process' keystream probe, the check of the sum against the plain
    /// sum and the report), and its CPU time estimated as the process' less what lies
    /// outside the session, taken as one thread busy (CPU = wall there): an estimate, not a
    /// bound (a wait outside the session makes it low, anything there on two threads makes
    /// it high; at d = 10^6 it has come out above two cores times the session's wall time).
    /// The wall time against the session and the CPU time against the whole process are
    /// measured exactly.
    wall: f64,
    cpu: f64,
}

fn simulated(shape: Shape) -> Simulated {
    let Shape {
        n,
        d,
        k,
        t,
        complete,
    } = shape;
    let mut args = vec![
        "simulate".to_owned(),
        "--clients".into(),
        n.to_string(),
        "--dim".into(),
        d.to_string(),
        "--threshold".into(),
        t.to_string(),
        "--dropout".into(),
        "0".into(),
        "--json".into(),
    ];
    if !complete {
        args.extend(["--neighbours".into(), k.to_string()]);
    }
    let start = Instant::now();
    let children_before = cpu_seconds().1;
    let sim = Command::new(env!("CARGO_BIN_EXE_secagg"))
        .args(&args)
        .output()
        .unwrap();
    let process_wall = start.elapsed().as_secs_f64();
    let process_cpu = cpu_seconds().1 - children_before;
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let json = String::from_utf8_lossy(&sim.stdout);
    let wall: f64 = json
        .split_once("\"total_seconds\":")
        .and_then(|(_, rest)| rest.split([',', '}']).next())
        .and_then(|v| v.trim().parse().ok())
        .expect("the simulator's total_seconds");
    Simulated {
        args,
        process_wall,
        process_cpu,
        wall,
        cpu: process_cpu - (process_wall - wall),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let n = env("NET_LOAD_CLIENTS", 1000);
    let d = env("NET_LOAD_DIM", 10_000);
    let runs = env("NET_LOAD_RUNS", 3).max(1);
    let graph = find(&FinderInput::new(
        n,
        0.05,
        0.05,
        ThreatModel::HonestButCurious,
    ))
    .unwrap();
    let complete = graph.k + 1 >= n;
    let shape = Shape {
        n,
        d,
        k: graph.k,
        t: graph.t,
        complete,
    };
    let (k, t) = (graph.k, graph.t);
    println!(
        "net_load: n = {n}, d = {d}, k = {k}{}, t = {t}, 2^32; {runs} runs, the networked session and the simulator alternating",
        if complete { " (complete)" } else { "" }
    );

    // The two sides alternate (odd runs start with the simulator), so that a change in the
    // machine's speed during the bench weighs on both; each run's ratio compares neighbours.
    let mut wall_ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    let mut process_ratios = Vec::new();
    let mut last = None;
    let mut sim_args = Vec::new();
    for run in 1..=runs {
        let (net, sim) = if run % 2 == 0 {
            let sim = simulated(shape);
            (networked(shape), sim)
        } else {
            let net = networked(shape);
            (net, simulated(shape))
        };
        let cpu = net.clients_cpu + net.server_cpu;
        wall_ratios.push(net.wall / sim.wall);
        cpu_ratios.push(cpu / sim.cpu);
        process_ratios.push((net.wall / sim.process_wall, cpu / sim.process_cpu));
        println!(
            "run {run}: networked {:.2} s wall, CPU {cpu:.2} s (clients {:.2}, server {:.2}), server peak (VmHWM) {:.1} MiB; simulated session {:.2} s wall, CPU {:.2} s (process {:.2} s, CPU {:.2} s); networked / simulated session: wall {:.2}, CPU {:.2} (/ the whole process: {:.2}, {:.2})",
            net.wall,
            net.clients_cpu,
            net.server_cpu,
            net.peak,
            sim.wall,
            sim.cpu,
            sim.process_wall,
            sim.process_cpu,
            net.wall / sim.wall,
            cpu / sim.cpu,
            net.wall / sim.process_wall,
            cpu / sim.process_cpu,
        );
        sim_args = sim.args;
        last = Some(net);
    }
    println!("simulator: secagg {}", sim_args.join(" "));
    println!(
        "median of {runs} runs, networked / simulated session: wall {:.2}, CPU {:.2}; networked / the whole secagg simulate process: wall {:.2}, CPU {:.2}",
        median(wall_ratios),
        median(cpu_ratios),
        median(process_ratios.iter().map(|r| r.0).collect()),
        median(process_ratios.iter().map(|r| r.1).collect()),
    );

    let Some(net) = last else { return };
    let traffic = &net.traffic;
    println!("last run, per-round client latency (s):");
    let mut by_round: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (r, s) in &traffic.latencies {
        by_round.entry(*r).or_default().push(*s);
    }
    println!("round | clients | p50 s | p90 s | p99 s | max s");
    for (r, mut v) in by_round {
        v.sort_by(f64::total_cmp);
        println!(
            "{r} | {} | {:.3} | {:.3} | {:.3} | {:.3}",
            v.len(),
            percentile(&v, 0.5),
            percentile(&v, 0.9),
            percentile(&v, 0.99),
            percentile(&v, 1.0)
        );
    }
    // Version-3 sizes (WIRE.md §3, §7) with no dropout: c = k ciphertexts each way, g = 0, an
    // unmasking request names the k live neighbours and the client (s = k + 1, δ = 0), a
    // response reveals k + 1 self-mask shares (its neighbours' and its own). The roster is
    // the whole one (39 + 101 n) on the complete graph; on a sparse graph each client gets
    // its view, k + 1 entries and a proof whose length depends on the ids, so the received
    // bytes are bounded: between the view without proof and with the longest proof.
    let (n64, k64, b) = (n as u64, (if complete { n - 1 } else { k }) as u64, 32u64);
    let sent_formula =
        n64 * (135 + (43 + 84 * k64) + (70 + (d as u64 * b).div_ceil(8)) + (46 + 36 * (k64 + 1)));
    let rest = (46 + 84 * k64) + (50 + 4 * (k64 + 1));
    if complete {
        let received_formula = n64 * ((39 + 101 * n64) + rest);
        println!(
            "wire bytes sent by clients: {} (formula {}), received: {} (formula {})",
            traffic.sent, sent_formula, traffic.received, received_formula
        );
    } else {
        let view = 47 + 101 * (k64 + 1);
        let proof = secagg::wire::max_roster_proof_len(k + 1) as u64;
        println!(
            "wire bytes sent by clients: {} (formula {}), received: {} (views: between {} and {})",
            traffic.sent,
            sent_formula,
            traffic.received,
            n64 * (view + rest),
            n64 * (view + proof + rest)
        );
    }
    let carried = traffic.sent + traffic.received + traffic.outcomes;
    println!(
        "outcome bytes (the packed sum to every client): {}; loopback bytes (TLS + HTTP/2 + TCP/IP): {} = {:.3} x (wire + outcome bytes)",
        traffic.outcomes,
        net.loopback,
        net.loopback as f64 / carried as f64
    );
}
