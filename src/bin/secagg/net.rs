//! `secagg serve`, `secagg client` and `secagg certs` (feature `net`): the networked driver
//! (`secagg::net`) as commands. `docs/DEPLOYMENT.md` is their manual.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use secagg::net::{self, Client, ClientConfig, NetError, Outcome, Server, ServerConfig};
use serde::Serialize;

use crate::{UsageError, usage_error, write_json, write_stderr, write_stdout};

/// Exit codes of `serve`.
const SERVE_EXIT_CODES: &str = "\
Exit codes: 0 stopped (Ctrl-C, or the configured sessions ran), 1 the server failed
(address in use, database held by another process, a state that does not open),
2 bad flags or configuration.";

/// Exit codes of `client`.
const CLIENT_EXIT_CODES: &str = "\
Exit codes: 0 the session produced a sum (printed as JSON), 1 the session aborted (the
reason is printed as JSON) or this client was refused or gave up, 2 bad flags,
configuration or input.";

/// Runs the aggregation server: admits clients over mutual TLS, runs sessions one after
/// another with the configured deadlines, and keeps its state in a database
#[derive(Debug, clap::Args)]
#[command(after_help = SERVE_EXIT_CODES)]
pub(crate) struct ServeArgs {
    /// The server's configuration file (TOML; `secagg certs` writes one)
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Log level: error, warn, info, debug or trace
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log: tracing::Level,
}

/// Runs one client: joins the server's current session with a vector and prints the outcome
#[derive(Debug, clap::Args)]
#[command(after_help = CLIENT_EXIT_CODES)]
pub(crate) struct ClientArgs {
    /// The client's configuration file (TOML; `secagg certs` writes one)
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// This client's id (its certificate must carry it)
    #[arg(long, value_name = "N", value_parser = crate::at_least(1u32))]
    id: u32,
    /// The vector: whitespace-separated integers below the modulus, from a file or `-` for
    /// standard input
    #[arg(long, value_name = "FILE|-")]
    input: String,
    /// Log level: error, warn, info, debug or trace
    #[arg(long, default_value = "warn", value_name = "LEVEL")]
    log: tracing::Level,
}

/// Writes a development CA, a server certificate for localhost, client certificates, a
/// state key and matching server.toml and client.toml into a folder
#[derive(Debug, clap::Args)]
pub(crate) struct CertsArgs {
    /// How many clients (ids 1..=N)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = crate::at_least(2usize))]
    clients: usize,
    /// The folder to write into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The vector length written into server.toml
    #[arg(long, default_value_t = 3, value_name = "D", value_parser = crate::at_least(1usize))]
    dim: usize,
    /// The malicious-server mode: also an Ed25519 identity key per client
    /// (identity-<id>.key) and the PKI directory of their verifying keys (pki.txt), and
    /// configuration files that use them
    #[arg(long)]
    malicious: bool,
}

/// Prints the outcome of every finished session from the server's state database, one JSON
/// line each, oldest first (the server must be stopped: the database is its alone while it
/// runs; a running server answers `Outcome` instead)
#[derive(Debug, clap::Args)]
pub(crate) struct ResultsArgs {
    /// The server's configuration file (its `state_db` is read)
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// One line of `secagg results`; `index` is the session's on this server (0 for its first).
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum ResultLine {
    Sum {
        index: u64,
        session: String,
        included: Vec<u32>,
        sum: Vec<u64>,
    },
    Aborted {
        index: u64,
        session: String,
        reason: String,
        round: u32,
        detail: String,
    },
}

/// `secagg results`.
pub(crate) fn results(args: &ResultsArgs) -> ExitCode {
    let config = match ServerConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return usage_error("results", &UsageError::flag("--config", e)),
    };
    let stored = net::store::Store::open(&config.state_db).and_then(|store| store.results());
    let stored = match stored {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    for (index, bytes) in stored {
        // The sum is decoded against the configuration's session parameters, as a client
        // decodes it against its own: a result stored under another `vector_len` or modulus
        // is refused, not misread.
        let outcome = <net::proto::Outcome as prost::Message>::decode(bytes.as_slice())
            .map_err(|e| NetError::Store(format!("session {index}: {e}")))
            .and_then(|o| {
                let session = <[u8; 32]>::try_from(o.session.as_slice())
                    .map_err(|_| NetError::Store(format!("session {index}: bad session id")))?;
                let params = config.session.params(secagg::SessionId(session))?;
                Outcome::from_proto(&o, &params)
            });
        let line = match outcome {
            Ok(Outcome::Sum {
                session,
                sum,
                included,
            }) => ResultLine::Sum {
                index,
                session: hex(&session.0),
                included: included.iter().map(|c| c.0).collect(),
                sum,
            },
            Ok(Outcome::Aborted {
                session,
                kind,
                round,
                detail,
            }) => ResultLine::Aborted {
                index,
                session: hex(&session.0),
                reason: kind.as_str_name().to_ascii_lowercase(),
                round,
                detail,
            },
            Err(e) => return failed(&e),
        };
        write_json(&line);
    }
    ExitCode::SUCCESS
}

fn logging(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, NetError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| NetError::Transport(format!("cannot start the runtime: {e}")))
}

fn failed(e: &NetError) -> ExitCode {
    write_stderr(&format!("error: {e}\n"));
    ExitCode::FAILURE
}

/// `secagg serve`.
pub(crate) fn serve(args: &ServeArgs) -> ExitCode {
    logging(args.log);
    let config = match ServerConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return usage_error("serve", &UsageError::flag("--config", e)),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let config_grace = config.deadlines.of(secagg::Round::Unmasking);
    runtime.block_on(async move {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => return failed(&e),
        };
        // The one line a script waits for (tests and the README's demo read it).
        write_stdout(&format!("listening on {}\n", server.local_addr()));
        let grace = config_grace;
        tokio::select! {
            () = async {
                server.sessions_done().await;
                // The last outcome reaches every client that asks within a deadline.
                server.outcomes_delivered(grace).await;
            } => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// The JSON line `secagg client` prints.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Report {
    Sum {
        session: String,
        included: Vec<u32>,
        /// Whether this client's input is in the sum.
        mine_included: bool,
        sum: Vec<u64>,
    },
    Aborted {
        session: String,
        reason: String,
        round: u32,
        detail: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a vector of whitespace-separated integers (a bounded read: at most `max` values).
fn read_input(source: &str, max: usize) -> Result<Vec<u64>, UsageError> {
    let limit = u64::try_from(max.saturating_mul(21).saturating_add(64)).unwrap_or(u64::MAX);
    let mut text = String::new();
    let read = if source == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(Path::new(source)).and_then(|f| f.take(limit).read_to_string(&mut text))
    };
    read.map_err(|e| UsageError::flag("--input", e))?;
    text.split_whitespace()
        .map(|t| {
            t.parse::<u64>()
                .map_err(|_| UsageError::flag("--input", format!("not an integer: {t:.40}")))
        })
        .collect()
}

/// `secagg client`.
pub(crate) fn client(args: &ClientArgs) -> ExitCode {
    logging(args.log);
    let config = match ClientConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return usage_error("client", &UsageError::flag("--config", e)),
    };
    let input = match read_input(&args.input, config.expect.max_vector_len) {
        Ok(v) => v,
        Err(e) => return usage_error("client", &e),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let id = args.id;
    runtime.block_on(async move {
        let mut client = match Client::new(config, id) {
            Ok(c) => c,
            Err(e) => return usage_error("client", &UsageError::flag("--config", e)),
        };
        match client.run(&input).await {
            Ok(Outcome::Sum {
                session,
                sum,
                included,
            }) => {
                write_json(&Report::Sum {
                    session: hex(&session.0),
                    mine_included: included.contains(&secagg::ClientId(id)),
                    included: included.iter().map(|c| c.0).collect(),
                    sum,
                });
                ExitCode::SUCCESS
            }
            Ok(Outcome::Aborted {
                session,
                kind,
                round,
                detail,
            }) => {
                write_json(&Report::Aborted {
                    session: hex(&session.0),
                    reason: kind.as_str_name().to_ascii_lowercase(),
                    round,
                    detail,
                });
                ExitCode::FAILURE
            }
            Err(NetError::Protocol(secagg::Error::ApiMisuse(e))) => {
                usage_error("client", &UsageError::flag("--input", e))
            }
            Err(e) => failed(&e),
        }
    })
}

/// `secagg certs`.
pub(crate) fn certs(args: &CertsArgs) -> ExitCode {
    let clients = match u32::try_from(args.clients) {
        Ok(n) if n <= 65_536 => n,
        _ => return usage_error("certs", &UsageError::flag("--clients", "at most 65536")),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return usage_error("certs", &UsageError::flag("--out", e));
    }
    let written = net::tls::DevCerts::generate("secagg dev", 1..=clients)
        .and_then(|certs| certs.write(&args.out))
        .and_then(|mut files| {
            let key = args.out.join("state.key");
            net::write_state_key(&key)?;
            files.push(key);
            if args.malicious {
                files.extend(net::identity::write_dev_identities(&args.out, 1..=clients)?);
            }
            let server = args.out.join("server.toml");
            std::fs::write(&server, server_toml(args.clients, args.dim, args.malicious))
                .map_err(|e| NetError::Config(format!("{}: {e}", server.display())))?;
            files.push(server);
            let client = args.out.join("client.toml");
            let mut client_text = CLIENT_TOML.to_owned();
            if args.malicious {
                client_text.push_str(CLIENT_IDENTITY_TOML);
            }
            std::fs::write(&client, client_text)
                .map_err(|e| NetError::Config(format!("{}: {e}", client.display())))?;
            files.push(client);
            Ok(files)
        });
    match written {
        Ok(files) => {
            for f in files {
                write_stdout(&format!("{}\n", f.display()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e),
    }
}

fn server_toml(clients: usize, dim: usize, malicious: bool) -> String {
    let (pki, threat) = if malicious {
        (
            "# The clients' verifying keys (the malicious-server mode).\npki = \"pki.txt\"\n",
            "threat_model = \"malicious\"   # identity signatures and ConsistencyCheck\n",
        )
    } else {
        (
            "",
            "# threat_model = \"malicious\"  # needs pki = \"pki.txt\" (secagg certs --malicious)\n",
        )
    };
    format!(
        "# secagg serve --config server.toml (docs/DEPLOYMENT.md). Paths are relative to this file.
listen = \"127.0.0.1:50051\"
state_db = \"secagg-state.redb\"
state_key = \"state.key\"
# Sessions to run, one after another; 0 runs sessions until stopped.
sessions = 1
{pki}
[tls]
ca = \"ca.pem\"
cert = \"server.pem\"
key = \"server.key\"

[session]
clients = {clients}
vector_len = {dim}
bits = 32
# threshold = ...   # default: the smallest safe one
# neighbours = ...  # SecAgg+ degree k (even); absent: the complete graph
{threat}
[deadlines]           # seconds; a round closes early once every client answered
advertise_keys = 30   # counted from the first advertisement
share_keys = 30
masked_input = 60
consistency = 30      # ConsistencyCheck, malicious-server mode only
unmasking = 30
"
    )
}

const CLIENT_TOML: &str =
    "# secagg client --config client.toml --id N --input FILE|- (docs/DEPLOYMENT.md)
server = \"127.0.0.1:50051\"
server_name = \"localhost\"
give_up_after = 300

[tls]
ca = \"ca.pem\"
cert = \"client-{id}.pem\"
key = \"client-{id}.key\"

[expect]              # this client's floors: the server cannot lower them
min_threshold = 2
min_neighbours = 2
max_clients = 10000
max_vector_len = 10000000
";

const CLIENT_IDENTITY_TOML: &str = "
[identity]            # the malicious-server mode: this client joins only such sessions
key = \"identity-{id}.key\"   # {id} is replaced by --id; a secret, mode 0600
pki = \"pki.txt\"             # every client's verifying key
";
