//! Regression vectors of the state format, version 2 (`docs/WIRE.md` §11): for fixed seeds,
//! the exact bytes of every saved state of client 1 and of the server in two small sessions,
//! and of their parameters and PKI. The test recomputes them and compares byte for byte, then
//! opens every one. After an intended change of the format, regenerate and review the diff:
//!
//! ```sh
//! SECAGG_REGENERATE_VECTORS=1 cargo test --test state_vectors
//! ```
//!
//! File format: `#` lines are comments; every other line is `<name> <hex>`.

use core::fmt::Write as _;
use std::collections::BTreeMap;
use std::path::PathBuf;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::protocol::client::Identity;
use secagg::protocol::session::{ClientSession, Closed, ServerSession};
use secagg::protocol::state::StateKey;
use secagg::{ClientId, IdentityKey, Modulus, Params, Pki, SessionId, ThreatModel};

const FILE: &str = "tests/vectors/state/v1.txt";
const HOST_KEY: [u8; 32] = [0x42; 32];

fn sessions() -> Vec<(&'static str, Params)> {
    vec![
        (
            "secagg_plus_n6_k2",
            Params::builder(SessionId([0x61; 32]), 6, Modulus::new(1000).unwrap(), 4)
                .neighbours(2)
                .build()
                .unwrap(),
        ),
        (
            "malicious_n4",
            Params::builder(
                SessionId([0x62; 32]),
                4,
                Modulus::power_of_two(10).unwrap(),
                3,
            )
            .threat_model(ThreatModel::Malicious)
            .build()
            .unwrap(),
        ),
    ]
}

fn key_of(id: ClientId) -> IdentityKey {
    IdentityKey::from_seed(&[u8::try_from(id.0).unwrap(); 32])
}

fn pki_of(n: u32) -> Pki {
    Pki::new((1..=n).map(|u| (ClientId(u), key_of(ClientId(u)).public_key())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The states of one session, in order, as `(name, bytes)`; the last client drops after
/// ShareKeys.
fn states(name: &str, params: &Params) -> Vec<(String, Vec<u8>)> {
    let n = u32::try_from(params.clients()).unwrap();
    let malicious = params.threat_model() == ThreatModel::Malicious;
    let pki = malicious.then(|| pki_of(n));
    let identity = |id| malicious.then(|| Identity::new(key_of(id), pki_of(n)));
    let key = StateKey::new(HOST_KEY);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut nonces = ChaCha20Rng::seed_from_u64(2);
    let mut out = vec![
        (format!("{name}/params"), params.to_bytes().to_vec()),
        (format!("{name}/pki"), pki_of(n).to_bytes()),
    ];
    let mut server = ServerSession::new(params, pki.clone());
    let mut clients = BTreeMap::new();
    for u in 1..=n {
        let id = ClientId(u);
        let (c, bytes) = ClientSession::start(params, id, identity(id), &mut rng);
        server.receive(params, id, &bytes).unwrap();
        clients.insert(id, c);
    }
    let me = ClientId(1);
    let dropping = ClientId(n);
    // Each iteration saves the server once it holds a whole round's messages, and client 1
    // as it waits for the server.
    loop {
        let round = server.round().number();
        out.push((
            format!("{name}/server/round{round}"),
            server.seal(&key, &mut nonces),
        ));
        let c = &clients[&me];
        let blob = c.seal(&key, &mut nonces);
        // Every saved state opens again, with what the client holds.
        ClientSession::open(&blob, &key, params, me, identity(me), c.stage()).unwrap();
        out.push((format!("{name}/client1/stage{}", c.stage()), blob));
        match server.close(params).unwrap() {
            Closed::Done(output) => {
                assert!(!output.included.contains(&dropping));
                break;
            }
            Closed::Next(next, envelopes) => {
                server = *next;
                for envelope in envelopes {
                    for id in envelope.to {
                        let c = clients.remove(&id).unwrap();
                        if id == dropping && c.needs_input() {
                            continue;
                        }
                        let input = vec![u64::from(id.0); params.vector_len()];
                        let (c, reply) = if c.needs_input() {
                            c.handle_with_input(params, &envelope.bytes, &input, &mut rng)
                        } else {
                            c.handle(params, &envelope.bytes, &mut rng)
                        }
                        .unwrap();
                        server.receive(params, id, &reply).unwrap();
                        clients.insert(id, c);
                    }
                }
            }
        }
    }
    for (blob_name, blob) in &out {
        if blob_name.contains("/server/") {
            ServerSession::open(blob, &key, params, pki.clone()).unwrap();
        }
    }
    out
}

#[test]
fn state_vectors_match() {
    let mut text = String::from(
        "# secagg state format version 2 (docs/WIRE.md §11): regression vectors.\n\
         # Host StateKey: 32 bytes of 0x42. Protocol randomness: ChaCha20Rng::seed_from_u64(1);\n\
         # nonces: ChaCha20Rng::seed_from_u64(2). Identity keys: seed [id; 32]. Inputs: [id; d].\n\
         # secagg_plus_n6_k2: n = 6, k = 2, m = 1000, d = 4, sid = [0x61; 32]; client 6 drops\n\
         # after ShareKeys. malicious_n4: n = 4, t = 3, m = 2^10, d = 3, sid = [0x62; 32];\n\
         # client 4 drops after ShareKeys.\n",
    );
    for (name, params) in sessions() {
        for (entry, bytes) in states(name, &params) {
            let _ = writeln!(text, "{entry} {}", hex(&bytes));
        }
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FILE);
    if std::env::var_os("SECAGG_REGENERATE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == text,
        "state vectors differ from {FILE}; regenerate after an intended change"
    );
}
