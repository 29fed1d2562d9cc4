//! The configuration files of `secagg serve` and `secagg client` (TOML), with defaults that
//! work on one machine. Relative paths are resolved against the file's folder, so a folder
//! written by `secagg certs` works from anywhere. `docs/DEPLOYMENT.md` documents every key.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use core::time::Duration;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::NetError;
use crate::arith::Modulus;
use crate::ids::SessionId;
use crate::params::{Expectations, Params, ThreatModel};
use crate::protocol::Round;

/// The default address of the server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// `secagg serve`'s configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen [default `127.0.0.1:50051`; port 0 picks a free one].
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The state database (redb) [default `secagg-state.redb`].
    #[serde(default = "default_state_db")]
    pub state_db: PathBuf,
    /// The file of the 32-byte host key that seals the server's states (raw bytes or 64 hex
    /// digits) [default `state.key`]. Keep it away from the database: whoever has both reads
    /// the revealed shares.
    #[serde(default = "default_state_key")]
    pub state_key: PathBuf,
    /// Sessions to run one after another, 0 for no end [default 0]. The server keeps
    /// answering `Outcome` queries after the last one, until it is stopped.
    #[serde(default)]
    pub sessions: u64,
    /// The PKI directory (client id -> Ed25519 verifying key, `secagg certs --malicious`
    /// writes `pki.txt`): required by, and only allowed with, `session.threat_model =
    /// "malicious"`.
    #[serde(default)]
    pub pki: Option<PathBuf>,
    /// The server's certificate and key and the CA of client certificates.
    pub tls: ServerTls,
    /// The session's parameters.
    pub session: SessionConfig,
    /// Round deadlines.
    #[serde(default)]
    pub deadlines: Deadlines,
}

/// The server's TLS files (PEM).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// The CA that signs client certificates.
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

/// The parameters every session of the server runs with (its session id is drawn at random
/// when it starts).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// `n`: the clients, ids `1..=n`.
    pub clients: usize,
    /// `d`: the vector length.
    pub vector_len: usize,
    /// Modulus `2^bits` [default 32 when `modulus` is absent].
    pub bits: Option<u32>,
    /// Any modulus (instead of `bits`).
    pub modulus: Option<u64>,
    /// `t` [default: the smallest safe one].
    pub threshold: Option<usize>,
    /// SecAgg+'s degree `k` (even); absent or 0 for the complete graph (SecAgg).
    pub neighbours: Option<usize>,
    /// The smallest roster [default: the core's].
    pub min_roster: Option<usize>,
    /// The server the clients defend against [default `honest_but_curious`]; `malicious`
    /// adds the identity signatures and the ConsistencyCheck round, and needs `pki`.
    #[serde(default)]
    pub threat_model: Threat,
}

/// A threat model as the configuration names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threat {
    /// An honest-but-curious server.
    #[default]
    HonestButCurious,
    /// A malicious server: clients sign with identity keys that a PKI publishes.
    Malicious,
}

impl From<Threat> for ThreatModel {
    fn from(t: Threat) -> Self {
        match t {
            Threat::HonestButCurious => Self::HonestButCurious,
            Threat::Malicious => Self::Malicious,
        }
    }
}

/// How long each round stays open, in seconds; a round closes earlier once every client it
/// expects has answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deadlines {
    /// AdvertiseKeys, counted from the first advertisement [default 30].
    pub advertise_keys: f64,
    /// ShareKeys [default 30].
    pub share_keys: f64,
    /// MaskedInputCollection: includes the clients' local work on their input [default 60].
    pub masked_input: f64,
    /// ConsistencyCheck (malicious-server mode only) [default 30].
    pub consistency: f64,
    /// Unmasking [default 30].
    pub unmasking: f64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            advertise_keys: 30.0,
            share_keys: 30.0,
            masked_input: 60.0,
            consistency: 30.0,
            unmasking: 30.0,
        }
    }
}

impl Deadlines {
    /// The deadline of `round`.
    #[must_use]
    pub fn of(&self, round: Round) -> Duration {
        let seconds = match round {
            Round::AdvertiseKeys => self.advertise_keys,
            Round::ShareKeys => self.share_keys,
            Round::MaskedInput => self.masked_input,
            Round::Consistency => self.consistency,
            Round::Unmasking => self.unmasking,
        };
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(30))
    }

    /// Every deadline, summed (ConsistencyCheck's too): at least the longest a session can
    /// last once it started.
    #[must_use]
    pub fn total(&self) -> Duration {
        [
            Round::AdvertiseKeys,
            Round::ShareKeys,
            Round::MaskedInput,
            Round::Consistency,
            Round::Unmasking,
        ]
        .into_iter()
        .map(|r| self.of(r))
        .sum()
    }

    fn check(&self) -> Result<(), NetError> {
        for (name, s) in [
            ("advertise_keys", self.advertise_keys),
            ("share_keys", self.share_keys),
            ("masked_input", self.masked_input),
            ("consistency", self.consistency),
            ("unmasking", self.unmasking),
        ] {
            if !(s.is_finite() && s > 0.0 && s <= 86_400.0) {
                return Err(NetError::Config(format!(
                    "deadlines.{name}: expected seconds above 0 and at most a day"
                )));
            }
        }
        Ok(())
    }
}

impl SessionConfig {
    /// The parameters of a session with id `session`.
    ///
    /// # Errors
    /// [`NetError::Config`] for parameters the core refuses.
    pub fn params(&self, session: SessionId) -> Result<Params, NetError> {
        let modulus = match (self.bits, self.modulus) {
            (Some(_), Some(_)) => {
                return Err(NetError::Config(
                    "session: give bits or modulus, not both".into(),
                ));
            }
            (_, Some(m)) => Modulus::new(m),
            (bits, None) => Modulus::power_of_two(bits.unwrap_or(32)),
        }
        .map_err(|e| NetError::Config(format!("session modulus: {e}")))?;
        let mut builder = Params::builder(session, self.clients, modulus, self.vector_len);
        if let Some(t) = self.threshold {
            builder = builder.threshold(t);
        }
        if let Some(k) = self.neighbours.filter(|k| *k > 0) {
            builder = builder.neighbours(k);
        }
        if let Some(m) = self.min_roster {
            builder = builder.min_roster(m);
        }
        builder = builder.threat_model(self.threat_model.into());
        builder
            .build()
            .map_err(|e| NetError::Config(format!("session: {e}")))
    }
}

/// `secagg client`'s configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The server's address, `host:port` [default `127.0.0.1:50051`].
    #[serde(default = "default_listen")]
    pub server: String,
    /// The name the server's certificate must carry [default `localhost`].
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// The client's TLS files; `{id}` in a path is replaced by the client's id.
    pub tls: ClientTls,
    /// The client gives up after this many seconds in all [default 300].
    #[serde(default = "default_give_up")]
    pub give_up_after: f64,
    /// What the client requires of the server's parameters.
    #[serde(default)]
    pub expect: Expect,
    /// The client's identity against a malicious server; with it the client joins only
    /// sessions in the malicious-server mode.
    #[serde(default)]
    pub identity: Option<ClientIdentity>,
}

/// A client's identity files (malicious-server mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIdentity {
    /// The client's Ed25519 identity key, its seed as 64 hex digits (`{id}` is replaced by
    /// the id). A secret: readable by the client only.
    pub key: PathBuf,
    /// The PKI directory: every client's verifying key.
    pub pki: PathBuf,
}

impl ClientIdentity {
    /// The key's path with `{id}` replaced.
    #[must_use]
    pub fn key_for(&self, id: u32) -> PathBuf {
        PathBuf::from(self.key.to_string_lossy().replace("{id}", &id.to_string()))
    }
}

/// The client's TLS files (PEM).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// The CA that signs the server's certificate.
    pub ca: PathBuf,
    /// The client's certificate (`{id}` is replaced by the id).
    pub cert: PathBuf,
    /// The client's private key (`{id}` is replaced by the id).
    pub key: PathBuf,
}

/// The client's floors and ceilings on the server's parameters (`Expectations`): the
/// client's, never the server's, decide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// The smallest threshold `t` [default 2].
    pub min_threshold: usize,
    /// The smallest degree `k` (the complete graph counts as `n - 1`) [default 2].
    pub min_neighbours: usize,
    /// The largest session [default 10000].
    pub max_clients: usize,
    /// The largest vector [default 10^7].
    pub max_vector_len: usize,
    /// Refuse a threshold that is not a strict majority of the share holders (defence in
    /// depth, `ParamsBuilder::require_majority`) [default false].
    pub require_majority: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            min_threshold: 2,
            min_neighbours: 2,
            max_clients: 10_000,
            max_vector_len: 10_000_000,
            require_majority: false,
        }
    }
}

impl Expect {
    /// The core's expectations for a session the server named, in the threat model the
    /// client insists on.
    #[must_use]
    pub fn for_session(&self, session: SessionId, threat_model: ThreatModel) -> Expectations {
        Expectations {
            session,
            threat_model,
            min_threshold: self.min_threshold,
            min_neighbours: self.min_neighbours,
            max_clients: self.max_clients,
            max_vector_len: self.max_vector_len,
            require_majority: self.require_majority,
        }
    }
}

impl ClientTls {
    /// The paths with `{id}` replaced.
    #[must_use]
    pub fn for_id(&self, id: u32) -> (PathBuf, PathBuf) {
        let sub = |p: &Path| PathBuf::from(p.to_string_lossy().replace("{id}", &id.to_string()));
        (sub(&self.cert), sub(&self.key))
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.into()
}
fn default_state_db() -> PathBuf {
    "secagg-state.redb".into()
}
fn default_state_key() -> PathBuf {
    "state.key".into()
}
fn default_server_name() -> String {
    "localhost".into()
}
fn default_give_up() -> f64 {
    300.0
}

/// Reads a TOML file.
fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NetError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NetError::Config(format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| NetError::Config(format!("{}: {e}", path.display())))
}

/// `path` against `dir` unless absolute.
fn under(dir: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = dir.join(&*path);
    }
}

fn folder(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

impl ServerConfig {
    /// Reads and checks a server configuration file; relative paths are taken from its
    /// folder.
    ///
    /// # Errors
    /// [`NetError::Config`] naming the file and the key.
    pub fn load(path: &Path) -> Result<Self, NetError> {
        let mut config: Self = read(path)?;
        let dir = folder(path);
        for p in [
            &mut config.state_db,
            &mut config.state_key,
            &mut config.tls.ca,
            &mut config.tls.cert,
            &mut config.tls.key,
        ] {
            under(&dir, p);
        }
        if let Some(p) = config.pki.as_mut() {
            under(&dir, p);
        }
        config.check()?;
        Ok(config)
    }

    /// Checks the parameters and deadlines.
    ///
    /// # Errors
    /// [`NetError::Config`].
    pub fn check(&self) -> Result<(), NetError> {
        self.deadlines.check()?;
        match (self.session.threat_model, &self.pki) {
            (Threat::Malicious, None) => {
                return Err(NetError::Config(
                    "session.threat_model = \"malicious\" needs `pki`, the directory of the clients' verifying keys".into(),
                ));
            }
            (Threat::HonestButCurious, Some(_)) => {
                // A PKI the server would not use gives a false sense of protection.
                return Err(NetError::Config(
                    "pki is only used with session.threat_model = \"malicious\"".into(),
                ));
            }
            _ => {}
        }
        self.session.params(SessionId([0; 32])).map(|_| ())
    }
}

impl ClientConfig {
    /// Reads a client configuration file; relative paths are taken from its folder.
    ///
    /// # Errors
    /// [`NetError::Config`] naming the file and the key.
    pub fn load(path: &Path) -> Result<Self, NetError> {
        let mut config: Self = read(path)?;
        let dir = folder(path);
        for p in [
            &mut config.tls.ca,
            &mut config.tls.cert,
            &mut config.tls.key,
        ] {
            under(&dir, p);
        }
        if let Some(identity) = config.identity.as_mut() {
            under(&dir, &mut identity.key);
            under(&dir, &mut identity.pki);
        }
        if !(config.give_up_after.is_finite() && config.give_up_after > 0.0) {
            return Err(NetError::Config(
                "give_up_after: expected seconds above 0".into(),
            ));
        }
        Ok(config)
    }
}
