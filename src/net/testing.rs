//! Set-up for the tests and benches of the networked driver (features `net` and
//! `test-util`): a deployment in a temporary folder (a development CA, the server's and the
//! clients' certificates, identity keys and the PKI directory, a state key), a server on
//! 127.0.0.1 with the port the system picks (port 0), and client configurations for it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), secagg::net::NetError> {
//! use secagg::net::{Client, testing::Deployment};
//! let deployment = Deployment::new(3)?;
//! let server = deployment.start(deployment.server_config(4, 5.0, 1)).await?;
//! let mut client = Client::new(deployment.client_config()?, 1)?;
//! # let _ = (server, &mut client);
//! # Ok(())
//! # }
//! ```
//!
//! Nothing here loops: a server start is one call, and the address a server process prints
//! is parsed from the one line it writes ([`listening_addr`]).

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use core::fmt::Write as _;
use core::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::OnceLock;

use super::config::{
    ClientConfig, ClientIdentity, ClientTls, Deadlines, Expect, ServerConfig, ServerTls,
    SessionConfig, Threat,
};
use super::tls::DevCerts;
use super::{NetError, RunningServer, Server};

/// A deployment in a temporary folder, removed when it is dropped.
///
/// It holds certificates of one CA for the server (`localhost`) and for clients
/// `1..=clients + 1` (the last one names a client outside the session, for refusal tests),
/// identity keys and the PKI directory `pki.txt` for `1..=clients` (the malicious-server
/// mode) and the state key `state.key`.
#[derive(Debug)]
pub struct Deployment {
    dir: PathBuf,
    clients: usize,
    /// The address of the first server started (its port picked by the system), which
    /// later starts reuse: a restarted server listens where its clients look for it.
    addr: OnceLock<SocketAddr>,
}

impl Deployment {
    /// Writes a new deployment for a session of `clients` clients into a fresh folder under
    /// the system's temporary folder.
    ///
    /// # Errors
    /// [`NetError::Config`] if the folder cannot be made, [`NetError::Tls`] if a certificate
    /// cannot be generated, or the errors of writing the files.
    pub fn new(clients: usize) -> Result<Self, NetError> {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).map_err(|e| NetError::Config(format!("OS randomness: {e}")))?;
        let mut name = String::from("secagg-net-");
        for b in tag {
            let _ = write!(name, "{b:02x}");
        }
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir)
            .map_err(|e| NetError::Config(format!("{}: {e}", dir.display())))?;
        // From here on, a failure removes the folder (the drop).
        let deployment = Self {
            dir,
            clients,
            addr: OnceLock::new(),
        };
        let last = u32::try_from(clients)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| NetError::Config(format!("{clients} clients")))?;
        DevCerts::generate("test", 1..=last)?.write(&deployment.dir)?;
        super::write_state_key(&deployment.path("state.key"))?;
        super::identity::write_dev_identities(&deployment.dir, 1..last)?;
        Ok(deployment)
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file of the folder.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The address servers listen on: the first server's, or `127.0.0.1:0` before one
    /// started.
    #[must_use]
    pub fn listen(&self) -> String {
        self.addr
            .get()
            .map_or_else(|| "127.0.0.1:0".to_owned(), ToString::to_string)
    }

    /// Records the address a server listens on (a server process prints it:
    /// [`listening_addr`]); the first one recorded stays.
    pub fn learn(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    /// A server configuration: the deployment's files, a session of the deployment's
    /// clients with vectors of `vector_len` elements modulo `2^32` and the default
    /// threshold, every round's deadline `deadline` seconds, `sessions` sessions (0: no
    /// end), listening on [`listen`](Self::listen).
    #[must_use]
    pub fn server_config(&self, vector_len: usize, deadline: f64, sessions: u64) -> ServerConfig {
        ServerConfig {
            listen: self.listen(),
            state_db: self.path("state.redb"),
            state_key: self.path("state.key"),
            sessions,
            tls: ServerTls {
                ca: self.path("ca.pem"),
                cert: self.path("server.pem"),
                key: self.path("server.key"),
            },
            session: SessionConfig {
                clients: self.clients,
                vector_len,
                bits: Some(32),
                modulus: None,
                threshold: None,
                neighbours: None,
                min_roster: None,
                threat_model: Threat::HonestButCurious,
            },
            pki: None,
            deadlines: Deadlines {
                advertise_keys: deadline,
                share_keys: deadline,
                masked_input: deadline,
                consistency: deadline,
                unmasking: deadline,
            },
        }
    }

    /// [`server_config`](Self::server_config) in the malicious-server mode, with the PKI
    /// directory of the deployment's identities, one session.
    #[must_use]
    pub fn malicious_server_config(&self, vector_len: usize, deadline: f64) -> ServerConfig {
        let mut config = self.server_config(vector_len, deadline, 1);
        config.session.threat_model = Threat::Malicious;
        config.pki = Some(self.path("pki.txt"));
        config
    }

    /// Starts a server with `config`, on the address of the first server if one started
    /// before (a restart), and records the address it listens on.
    ///
    /// # Errors
    /// The errors of [`Server::start`].
    pub async fn start(&self, mut config: ServerConfig) -> Result<RunningServer, NetError> {
        if let Some(addr) = self.addr.get() {
            config.listen = addr.to_string();
        }
        let server = Server::start(config).await?;
        self.learn(server.local_addr());
        Ok(server)
    }

    /// A client configuration for the server that started (its address), with the
    /// deployment's certificates (`client-{id}.pem`), giving up after 30 seconds.
    ///
    /// # Errors
    /// [`NetError::Config`] before a server started or was [learned](Self::learn).
    pub fn client_config(&self) -> Result<ClientConfig, NetError> {
        let addr = self
            .addr
            .get()
            .ok_or_else(|| NetError::Config("no server started yet".into()))?;
        Ok(ClientConfig {
            server: addr.to_string(),
            server_name: "localhost".into(),
            tls: ClientTls {
                ca: self.path("ca.pem"),
                cert: self.path("client-{id}.pem"),
                key: self.path("client-{id}.key"),
            },
            give_up_after: 30.0,
            expect: Expect::default(),
            identity: None,
        })
    }

    /// [`client_config`](Self::client_config) with the deployment's identities
    /// (malicious-server mode).
    ///
    /// # Errors
    /// As [`client_config`](Self::client_config).
    pub fn malicious_client_config(&self) -> Result<ClientConfig, NetError> {
        Ok(ClientConfig {
            identity: Some(ClientIdentity {
                key: self.path("identity-{id}.key"),
                pki: self.path("pki.txt"),
            }),
            ..self.client_config()?
        })
    }

    /// Writes `config` as `server.toml` in the folder (for `secagg serve --config`, and to
    /// exercise the loader), its `listen` replaced by [`listen`](Self::listen): port 0
    /// until a server started, so a restarted process listens where the first one did.
    ///
    /// # Errors
    /// [`NetError::Config`] if the file cannot be written.
    pub fn write_server_toml(&self, config: &ServerConfig) -> Result<PathBuf, NetError> {
        let path = self.path("server.toml");
        std::fs::write(&path, server_toml(config, &self.listen()))
            .map_err(|e| NetError::Config(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The address in the line `secagg serve` prints once it listens (`listening on ADDR`).
#[must_use]
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("listening on ")?.parse().ok()
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quoted_path(path: &Path) -> String {
    quoted(&path.to_string_lossy())
}

/// `config` as a `server.toml` listening on `listen`.
fn server_toml(config: &ServerConfig, listen: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "listen = {}", quoted(listen));
    let _ = writeln!(text, "state_db = {}", quoted_path(&config.state_db));
    let _ = writeln!(text, "state_key = {}", quoted_path(&config.state_key));
    let _ = writeln!(text, "sessions = {}", config.sessions);
    if let Some(pki) = &config.pki {
        let _ = writeln!(text, "pki = {}", quoted_path(pki));
    }
    let _ = writeln!(text, "[tls]");
    let _ = writeln!(text, "ca = {}", quoted_path(&config.tls.ca));
    let _ = writeln!(text, "cert = {}", quoted_path(&config.tls.cert));
    let _ = writeln!(text, "key = {}", quoted_path(&config.tls.key));
    let s = &config.session;
    let _ = writeln!(text, "[session]");
    let _ = writeln!(text, "clients = {}", s.clients);
    let _ = writeln!(text, "vector_len = {}", s.vector_len);
    let optional = [
        ("bits", s.bits.map(u64::from)),
        ("modulus", s.modulus),
        ("threshold", s.threshold.and_then(|t| u64::try_from(t).ok())),
        (
            "neighbours",
            s.neighbours.and_then(|k| u64::try_from(k).ok()),
        ),
        (
            "min_roster",
            s.min_roster.and_then(|r| u64::try_from(r).ok()),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            let _ = writeln!(text, "{key} = {value}");
        }
    }
    let threat = match s.threat_model {
        Threat::HonestButCurious => "honest_but_curious",
        Threat::Malicious => "malicious",
    };
    let _ = writeln!(text, "threat_model = {}", quoted(threat));
    let d = &config.deadlines;
    let _ = writeln!(text, "[deadlines]");
    for (key, value) in [
        ("advertise_keys", d.advertise_keys),
        ("share_keys", d.share_keys),
        ("masked_input", d.masked_input),
        ("consistency", d.consistency),
        ("unmasking", d.unmasking),
    ] {
        // `{:?}` keeps a decimal point (`5.0`): TOML reads a float either way.
        let _ = writeln!(text, "{key} = {value:?}");
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listening_line() {
        assert_eq!(
            listening_addr("listening on 127.0.0.1:4711\n"),
            Some("127.0.0.1:4711".parse().unwrap())
        );
        assert_eq!(listening_addr("listening 127.0.0.1:1"), None);
    }

    #[test]
    fn toml_round_trips_through_the_loader() {
        let deployment = Deployment::new(3).unwrap();
        let mut config = deployment.malicious_server_config(5, 1.5);
        config.session.neighbours = Some(2);
        let path = deployment.write_server_toml(&config).unwrap();
        let loaded = ServerConfig::load(&path).unwrap();
        assert_eq!(loaded.listen, "127.0.0.1:0");
        assert_eq!(loaded.session.neighbours, Some(2));
        assert_eq!(loaded.session.threat_model, Threat::Malicious);
        assert_eq!(loaded.pki, config.pki);
        assert_eq!(loaded.tls.cert, config.tls.cert);
        assert!((loaded.deadlines.unmasking - 1.5).abs() < f64::EPSILON);
        let dir = deployment.dir().to_owned();
        drop(deployment);
        assert!(!dir.exists());
    }
}
