//! The fuzz targets (`fuzz/`, logic in `secagg::fuzzing`) as ordinary tests: every committed
//! seed of `fuzz/corpus/` (tracked by git; a fuzzer's untracked outputs are not read) runs
//! through its target, plus empty, one-byte and pseudo-random
//! inputs. A crash the fuzzer finds becomes a named test here, with its minimised input in
//! hex (none so far: 15-minute runs of every target found nothing).

#![cfg(feature = "fuzzing")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use secagg::fuzzing;
use secagg::wire::{self, ClientMessage, Limits, ServerMessage};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 7] = [
    ("decode_client_message", fuzzing::decode_client_message),
    ("decode_server_message", fuzzing::decode_server_message),
    ("client_session", fuzzing::client_session),
    ("server_session", fuzzing::server_session),
    ("shamir_reconstruct", fuzzing::shamir_reconstruct),
    ("unpack_vector", fuzzing::unpack_vector),
    ("decode_state", fuzzing::decode_state),
];

/// The committed seeds of `target`: the files git tracks under `fuzz/corpus/<target>/`. A
/// fuzzing run writes its new corpus entries into the same directory, named the same way
/// (hex digests), so only git can tell seeds from outputs; reading the directory would make
/// the test depend on whatever the last local run left there. Outside a git checkout (a
/// source package), or where git lists nothing, every file of the directory not starting
/// with a dot.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let relative = format!("fuzz/corpus/{target}");
    let mut paths = tracked_files(root, &relative);
    if paths.is_empty() {
        let dir = root.join(&relative);
        paths = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_file())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
    }
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    seeds.sort();
    seeds
}

/// `git ls-files` under `relative`, as absolute paths; empty when git is missing or `root`
/// is not in a checkout.
fn tracked_files(root: &Path, relative: &str) -> Vec<PathBuf> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--", relative])
        .output();
    match output {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_seed_runs_through_its_target() {
    for (name, target) in TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for (path, bytes) in seeds {
            eprintln!("{name}: {}", path.display());
            target(&bytes);
        }
    }
}

#[test]
fn every_target_takes_empty_and_tiny_inputs() {
    for (_, target) in TARGETS {
        target(&[]);
        for b in 0..=255u8 {
            target(&[b]);
        }
    }
}

/// The decoding seeds are real messages of the session their first byte selects, so the
/// fuzzer starts from inputs that decode (not from ones rejected at the first check).
#[test]
fn decoding_seeds_decode() {
    for (path, bytes) in corpus("decode_client_message") {
        let limits = Limits::for_params(&fuzzing::decode_params(bytes[0]));
        let decoded = wire::from_bytes::<ClientMessage>(&bytes[1..], &limits);
        assert!(decoded.is_ok(), "{}: {decoded:?}", path.display());
    }
    for (path, bytes) in corpus("decode_server_message") {
        let limits = Limits::for_params(&fuzzing::decode_params(bytes[0]));
        let decoded = wire::from_bytes::<ServerMessage>(&bytes[1..], &limits);
        assert!(decoded.is_ok(), "{}: {decoded:?}", path.display());
    }
}

/// The state-decoding seeds are the bodies of real states of every round of every fixed
/// session: they open, and the committed corpus holds each of them. After a change of the
/// state format, regenerate them with `SECAGG_REGENERATE_SEEDS=1`.
#[test]
fn state_seeds_are_real_states() {
    let seeds = fuzzing::decode_state_seeds();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_state");
    if std::env::var_os("SECAGG_REGENERATE_SEEDS").is_some() {
        fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
    let committed: Vec<Vec<u8>> = corpus("decode_state").into_iter().map(|(_, b)| b).collect();
    // Every fixed session, every client stage it reaches, every server round.
    assert!(seeds.len() >= 7 * 8, "{} seeds", seeds.len());
    for seed in &seeds {
        assert!(
            fuzzing::decode_state_opens(seed),
            "seed {:?} does not open",
            &seed[..2]
        );
        assert!(
            committed.contains(seed),
            "seed {:?} is not committed",
            &seed[..2]
        );
    }
}

/// Found by `decode_state` in its first minute: a saved server ShareKeys state whose
/// nested ShareKeys message carried another session id opened, and sealed back with this
/// session's id (a non-canonical state). Now refused. The input is a committed seed.
#[test]
fn regression_state_with_foreign_session_in_nested_message() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/decode_state/regression-share-keys-foreign-session");
    let input = fs::read(path).unwrap();
    assert!(!fuzzing::decode_state_opens(&input));
}

/// Every session the session targets run completes when nobody deviates, for every client
/// under test.
#[test]
fn honest_sessions_complete() {
    for session in 0..u8::try_from(fuzzing::SESSIONS).unwrap() {
        fuzzing::server_session(&[session]);
        fuzzing::server_session(&[session | 0x10]);
        for me in 0..8 {
            // Ops 0: the honest next message, four times.
            fuzzing::client_session(&[session, me, 0, 0, 0, 0, 0]);
        }
    }
}

#[test]
fn random_inputs_do_not_panic() {
    // A fixed pseudo-random stream (xorshift), a few hundred inputs per target.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (_, target) in TARGETS {
        for _ in 0..200 {
            let len = usize::try_from(next() % 300).unwrap();
            let bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
            target(&bytes);
        }
    }
}
