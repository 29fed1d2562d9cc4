//! The `secagg simulate` command line: flags, JSON output, inputs files and exit codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the binary with `args`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secagg"))
        .args(args)
        .output()
        .expect("the secagg binary runs")
}

/// Runs the binary with `--json` and parses stdout, whatever the exit code.
fn run_json(args: &[&str]) -> (Output, Json) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = run(&all);
    let text = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    let json = Json::parse(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {text}"));
    (out, json)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes an inputs file under the target's scratch directory.
fn inputs_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}.txt"));
    std::fs::write(&path, text).expect("write inputs file");
    path
}

/// The plain sum of `rows` selected by 1-based id, modulo `m`.
fn plain_sum(rows: &[Vec<u64>], ids: &[u64], m: u128) -> Vec<u64> {
    let d = rows[0].len();
    (0..d)
        .map(|j| {
            let s = ids
                .iter()
                .map(|id| u128::from(rows[usize::try_from(*id).unwrap() - 1][j]))
                .sum::<u128>();
            u64::try_from(s % m).unwrap()
        })
        .collect()
}

#[test]
fn json_small_run_has_every_field_and_verifies() {
    let (out, json) = run_json(&["simulate", "--clients", "6", "--dim", "8", "--seed", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("clients").num(), 6);
    assert_eq!(json.get("dim").num(), 8);
    assert_eq!(json.get("modulus").num(), 1 << 32);
    assert_eq!(json.get("threshold").num(), 4);
    assert_eq!(json.get("seed").num(), 5);
    assert_eq!(json.get("verified"), &Json::Bool(true));
    assert_eq!(json.get("sum").nums().len(), 8);
    assert!(json.get("sum").nums().iter().all(|x| *x < 1 << 32));
    // The default 10% of 6 clients rounds to one dropping client, at round 0.
    assert_eq!(json.get("dropped").nums().len(), 1);
    assert_eq!(json.get("included").nums().len(), 5);
    let rounds = json.get("rounds").items();
    let names: Vec<&str> = rounds.iter().map(|r| r.get("name").str()).collect();
    assert_eq!(
        names,
        ["advertise_keys", "share_keys", "masked_input", "unmasking"]
    );
    for r in rounds {
        for key in [
            "client_seconds",
            "server_seconds",
            "bytes_sent_per_client",
            "bytes_received_per_client",
        ] {
            assert!(r.get(key).float() >= 0.0, "{key}");
        }
    }
}

/// `--restart-every-round` saves and restores every party between rounds and still verifies
/// the sum, with the same sum as the run without restarts (same seed), in both threat models;
/// the report gives the sealed sizes.
#[test]
fn restarts_every_round_and_verifies_the_same_sum() {
    for malicious in [false, true] {
        let mut args = vec![
            "simulate",
            "--clients",
            "12",
            "--dim",
            "16",
            "--seed",
            "3",
            "--drop",
            "1:4",
            "--drop",
            "2:7",
        ];
        if malicious {
            args.extend(["--malicious", "--min-roster", "12"]);
        }
        let (plain_out, plain) = run_json(&args);
        assert!(plain_out.status.success(), "{}", stderr(&plain_out));
        args.push("--restart-every-round");
        let (out, json) = run_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(json.get("verified"), &Json::Bool(true));
        assert_eq!(json.get("sum").nums(), plain.get("sum").nums());
        assert_eq!(json.get("included").nums(), plain.get("included").nums());
        for r in json.get("rounds").items() {
            assert!(r.get("server_state_bytes").num() > 0, "{malicious}");
        }
        for r in plain.get("rounds").items() {
            assert_eq!(r.get("server_state_bytes").num(), 0);
        }
    }
}

#[test]
fn human_output_reports_verification() {
    let out = run(&["simulate", "--clients", "4", "--dim", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("masked_input"), "{text}");
    assert!(
        text.contains("verified: sum equals the plain sum of the 4 included inputs"),
        "{text}"
    );
}

#[test]
fn dropped_ids_are_not_included_unless_dropped_at_unmasking() {
    let (out, json) = run_json(&[
        "simulate",
        "--clients",
        "10",
        "--dim",
        "5",
        "--drop",
        "0:2",
        "--drop",
        "1:3",
        "--drop",
        "2:4",
        "--drop",
        "3:5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("dropped").nums(), [2, 3, 4, 5]);
    // Client 5 sent its masked input before dropping, so its input is in the sum.
    assert_eq!(json.get("included").nums(), [1, 5, 6, 7, 8, 9, 10]);
    assert_eq!(json.get("verified"), &Json::Bool(true));
}

#[test]
fn aborts_when_drops_leave_fewer_than_threshold() {
    let (out, json) = run_json(&[
        "simulate",
        "--clients",
        "5",
        "--dim",
        "3",
        "--drop",
        "1:1,2,3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json.get("error").str().contains("threshold"), "{json:?}");
    assert!(json.find("sum").is_none());
    let names: Vec<&str> = json
        .get("rounds")
        .items()
        .iter()
        .map(|r| r.get("name").str())
        .collect();
    assert_eq!(names, ["advertise_keys", "share_keys"]);
    assert!(
        stderr(&out).contains("error: session aborted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inputs_file_gives_exactly_the_plain_sum() {
    let rows: Vec<Vec<u64>> = vec![
        vec![65535, 1, 0, 7],
        vec![65535, 2, 9, 7],
        vec![1, 3, 0, 65000],
        vec![100, 4, 5, 7],
        vec![0, 5, 65535, 7],
    ];
    let text: String = rows
        .iter()
        .map(|r| r.iter().map(u64::to_string).collect::<Vec<_>>().join("  ") + "\n")
        .collect();
    let path = inputs_file("plain-sum", &text);
    let path = path.to_str().unwrap();
    let args = [
        "simulate", "--bits", "16", "--inputs", path, "--drop", "2:3",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("clients").num(), 5);
    assert_eq!(json.get("dim").num(), 4);
    assert_eq!(json.get("included").nums(), [1, 2, 4, 5]);
    assert_eq!(
        json.get("sum").nums(),
        plain_sum(&rows, &[1, 2, 4, 5], 1 << 16)
    );
}

#[test]
fn inputs_file_with_full_u64_modulus_wraps() {
    let max = u64::MAX;
    let path = inputs_file("u64", &format!("{max} 1\n{max} 2\n{max} 3\n"));
    let args = [
        "simulate",
        "--bits",
        "64",
        "--inputs",
        path.to_str().unwrap(),
    ];
    let (out, json) = run_json(&[&args[..], &["--dropout", "0"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("sum").nums(), [max - 2, 6]);
}

#[test]
fn rejects_malformed_inputs_files_naming_the_line() {
    let cases = [
        ("ragged", "1 2 3\n4 5 6\n7 8\n", "line 3"),
        ("too-big", "1 2\n256 0\n3 4\n", "line 2"),
        ("not-a-number", "1 2\n3 4\n5 6\n7 x\n", "line 4"),
        ("negative", "1 2\n-3 4\n", "line 2"),
        ("empty", "", "empty"),
    ];
    for (name, text, expected) in cases {
        let path = inputs_file(name, text);
        let out = run(&[
            "simulate",
            "--bits",
            "8",
            "--inputs",
            path.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn inputs_file_must_agree_with_clients() {
    let path = inputs_file("agree", "1 2\n3 4\n5 6\n");
    let args = [
        "simulate",
        "--inputs",
        path.to_str().unwrap(),
        "--clients",
        "4",
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--clients 4"), "{}", stderr(&out));
}

#[test]
fn non_power_of_two_modulus_works() {
    let m: u64 = 1_000_003;
    let args = [
        "simulate",
        "--clients",
        "6",
        "--dim",
        "10",
        "--modulus",
        "1000003",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("modulus").num(), u128::from(m));
    assert_eq!(json.get("verified"), &Json::Bool(true));
    assert!(json.get("sum").nums().iter().all(|x| *x < m));

    let rows = vec![vec![6, 5], vec![6, 1], vec![6, 0]];
    let path = inputs_file("mod7", "6 5\n6 1\n6 0\n");
    let args = [
        "simulate",
        "--modulus",
        "7",
        "--inputs",
        path.to_str().unwrap(),
    ];
    let (out, json) = run_json(&[&args[..], &["--dropout", "0"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("sum").nums(), plain_sum(&rows, &[1, 2, 3], 7));
}

#[test]
fn same_seed_gives_the_same_sum() {
    let args = ["simulate", "--clients", "5", "--dim", "6", "--seed", "17"];
    let (_, a) = run_json(&args);
    let (_, b) = run_json(&args);
    assert_eq!(a.get("sum").nums(), b.get("sum").nums());
    assert_eq!(a.get("session"), b.get("session"));
    assert_eq!(a.get("included"), b.get("included"));
    let (_, c) = run_json(&["simulate", "--clients", "5", "--dim", "6", "--seed", "18"]);
    assert_ne!(a.get("sum").nums(), c.get("sum").nums());
}

/// `--sample-clients` measures a few clients of a larger roster: the JSON names them, the
/// rounds after advertise_keys count them only, and there is no sum to verify.
#[test]
fn sample_clients_reports_the_measured_clients_without_a_sum() {
    let args = [
        "simulate",
        "--clients",
        "300",
        "--dim",
        "10",
        "--neighbours",
        "10",
        "--threshold",
        "6",
        "--dropout",
        "0.05",
        "--sample-clients",
        "2",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("sampled_clients").nums().len(), 2);
    assert!(json.get("sampled_neighbours").num() >= 10);
    for key in ["sum", "verified", "included", "error"] {
        assert!(json.find(key).is_none(), "{key}");
    }
    let rounds = json.get("rounds").items();
    assert_eq!(rounds.len(), 4);
    // 5% of 300 drop, a quarter of them at advertise_keys: everyone else ran it.
    assert!(rounds[0].get("clients").num() > 290);
    for r in &rounds[1..] {
        assert_eq!(r.get("clients").num(), 2);
    }
    let human = run(&args[..]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("sampled: 2 measured clients"), "{text}");
    // Zero is not a sample.
    let zero = run(&["simulate", "--clients", "30", "--sample-clients", "0"]);
    assert_eq!(zero.status.code(), Some(2));
}

/// `--stand-ins`: the simulator stands in for every other client, so the server's figures
/// are a whole session's (it expands every survivor's self-mask), and the flag needs
/// `--sample-clients`.
#[test]
fn stand_ins_give_the_server_a_whole_session() {
    let args = [
        "simulate",
        "--clients",
        "300",
        "--dim",
        "10",
        "--neighbours",
        "10",
        "--threshold",
        "6",
        "--dropout",
        "0.05",
        "--sample-clients",
        "2",
        "--stand-ins",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("sampled_clients").nums().len(), 2);
    assert_eq!(json.get("sampled_neighbours").num(), 0);
    let advertised = json.get("rounds").items()[0].get("clients").num();
    assert_eq!(json.get("sampled_stand_ins").num(), advertised - 2);
    let rounds = json.get("rounds").items();
    let last = rounds.last().unwrap();
    assert_eq!(last.get("clients").num(), 2);
    // One self-mask per survivor at least: the server unmasked the whole session.
    assert!(last.get("server_mask_expansions").num() > 280);
    for key in ["sum", "verified", "included", "error"] {
        assert!(json.find(key).is_none(), "{key}");
    }
    let human = run(&args[..]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("the simulator stood in for the other"),
        "{text}"
    );
    let alone = run(&["simulate", "--clients", "30", "--stand-ins"]);
    assert_eq!(alone.status.code(), Some(2));
}

#[test]
fn rejects_bad_flags_with_exit_code_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["simulate", "--clients"],
        &["simulate", "--clients", "many"],
        &["simulate", "--bits", "8", "--modulus", "7"],
        &["simulate", "--modulus", "1"],
        &["simulate", "--bits", "65"],
        &["simulate", "--clients", "10", "--threshold", "1"],
        &[
            "simulate",
            "--clients",
            "10",
            "--threshold",
            "5",
            "--require-majority",
        ],
        &["simulate", "--dropout", "2"],
        &["simulate", "--drop", "4:1"],
        &["simulate", "--clients", "4", "--drop", "1:5"],
        &["simulate", "--no-such-flag"],
    ];
    for args in cases {
        let out = run(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn help_succeeds() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("--dropout"));
}

/// Runs the binary under a 1 GiB address-space limit: a binary that reads a stream without
/// bound or allocates a vector of length d fails here. The 60 s deadline only stops a runaway
/// child (the test then fails instead of hanging); it measures nothing.
fn run_limited(args: &[&str]) -> Output {
    let start = std::time::Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_secagg"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > core::time::Duration::from_secs(60) {
            child.kill().expect("kill");
            panic!("{args:?} still running after 60 s");
        }
        std::thread::sleep(core::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn top_level_help_lists_every_command_and_version_works() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["simulate", "params", "plan", "privacy"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let version = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        version.trim(),
        format!("secagg {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn each_command_help_gives_defaults_and_exit_codes() {
    for command in ["simulate", "params", "plan", "privacy"] {
        let out = run(&[command, "--help"]);
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Exit codes: 0"), "{command}:\n{help}");
        assert!(help.contains("2 bad flags"), "{command}:\n{help}");
        assert!(help.contains("[default: "), "{command}:\n{help}");
    }
    let simulate = String::from_utf8(run(&["simulate", "--help"]).stdout).unwrap();
    assert!(simulate.contains("--min-roster"), "{simulate}");
    assert!(simulate.contains("[default: 100;"), "{simulate}");
}

#[test]
fn every_command_rejects_bad_values_with_exit_code_2_naming_the_flag() {
    let params = [
        "params",
        "--clients",
        "10",
        "--dropout",
        "0.1",
        "--corrupt",
        "0.1",
    ];
    let with = |flag: &str, value: &str| -> Vec<String> {
        let mut args: Vec<String> = params.iter().map(|s| (*s).to_owned()).collect();
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value.to_owned(),
            None => args.extend([flag.to_owned(), value.to_owned()]),
        }
        args
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (with("--clients", "0"), "--clients"),
        (with("--dropout", "1"), "--dropout"),
        (with("--corrupt", "1"), "--corrupt"),
        (with("--sigma", "0"), "--sigma"),
        (with("--eta", "0"), "--eta"),
        (
            vec!["plan".into(), "--precision".into(), "0".into()],
            "--precision",
        ),
        (
            ["plan", "--noise", "ddg:1", "--min-clients", "0"]
                .map(String::from)
                .to_vec(),
            "--min-clients",
        ),
        (
            [
                "plan",
                "--noise",
                "ddg:1",
                "--clients",
                "10",
                "--min-clients",
                "11",
            ]
            .map(String::from)
            .to_vec(),
            "--min-clients",
        ),
        (
            ["privacy", "--noise-multiplier", "1", "--clients", "0"]
                .map(String::from)
                .to_vec(),
            "--clients",
        ),
        (
            [
                "privacy",
                "--noise-multiplier",
                "1",
                "--clients",
                "5",
                "--rounds",
                "0",
            ]
            .map(String::from)
            .to_vec(),
            "--rounds",
        ),
        (
            ["privacy", "--noise-multiplier", "0", "--clients", "5"]
                .map(String::from)
                .to_vec(),
            "--noise-multiplier",
        ),
        (
            ["simulate", "--threads", "5000"].map(String::from).to_vec(),
            "--threads",
        ),
    ];
    for (args, flag) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} does not name {flag}: {err}");
        assert!(!err.contains("rounds and contributors"), "{args:?}: {err}");
        assert!(!err.contains("scale must"), "{args:?}: {err}");
    }
}

#[test]
fn unknown_flags_are_unknown_in_every_command() {
    for command in ["simulate", "params", "plan", "privacy"] {
        let out = run(&[command, "--bogus"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains("'--bogus'"), "{command}: {err}");
        assert!(!err.contains("needs a value"), "{command}: {err}");
    }
}

#[test]
fn inputs_are_read_with_a_bound_from_clients_and_dim() {
    if std::path::Path::new("/dev/zero").exists() {
        let out = run_limited(&["simulate", "--inputs", "/dev/zero"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    }
    // 21 bytes a value and a newline: with --dim 2, a line of 44 bytes is refused.
    let path = inputs_file("padded", &format!("1{}2\n3 4\n5 6\n", " ".repeat(60)));
    let path = path.to_str().unwrap();
    let out = run(&["simulate", "--inputs", path, "--dim", "2", "--bits", "8"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("longer than the 43 bytes"),
        "{}",
        stderr(&out)
    );
    // More lines than --clients are refused as soon as one more appears.
    let path = inputs_file("extra-line", "1 2\n3 4\n5 6\n7 8\n");
    let out = run(&[
        "simulate",
        "--inputs",
        path.to_str().unwrap(),
        "--clients",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--clients 3"), "{}", stderr(&out));
    // Without --dim, line 1 sets the bound of the others.
    let path = inputs_file("wide-line", "1 2\n3 4 5 6 7\n");
    let out = run(&[
        "simulate",
        "--inputs",
        path.to_str().unwrap(),
        "--bits",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}

#[test]
fn neighbours_not_below_clients_are_refused_not_clamped() {
    for k in ["10", "12"] {
        let out = run(&[
            "simulate",
            "--clients",
            "10",
            "--dim",
            "2",
            "--neighbours",
            k,
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{k}: {err}");
        assert!(err.contains("--neighbours"), "{k}: {err}");
    }
}

#[test]
fn threads_are_bounded() {
    let out = run(&[
        "simulate",
        "--clients",
        "4",
        "--dim",
        "2",
        "--threads",
        "2000",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("1024"), "{}", stderr(&out));
}

#[test]
fn complete_graph_on_many_clients_warns_of_its_quadratic_cost() {
    // The bad threshold stops the run after the warning.
    let out = run(&[
        "simulate",
        "--clients",
        "6000",
        "--dim",
        "1",
        "--threshold",
        "1",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("warning: the complete graph on 6000 clients"),
        "{err}"
    );
    assert!(err.contains("n^2"), "{err}");
    let out = run(&[
        "simulate",
        "--clients",
        "60",
        "--dim",
        "1",
        "--threshold",
        "1",
    ]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// Ten million clients are accounted (the speed-up is measured with the command itself, not
/// asserted here: tests assert results, not timings).
#[test]
fn privacy_with_ten_million_clients_accounts() {
    let (out, json) = run_json(&[
        "privacy",
        "--noise-multiplier",
        "1",
        "--clients",
        "10000000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(json.get("epsilon").float() > 0.0);
}

#[test]
fn plan_rotate_with_a_huge_dim_allocates_nothing_of_length_d() {
    let out = run_limited(&["plan", "--rotate", "--dim", "268435456", "--json"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    let json = Json::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(json.get("vector_len").num(), 1 << 28);
}

#[test]
fn json_of_every_command_parses() {
    let (out, json) = run_json(&["plan", "--noise", "ddg:1", "--clients", "50"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("fits"), &Json::Bool(true));
    assert_eq!(json.get("noise").str(), "DiscreteGaussian");
    let (out, json) = run_json(&[
        "privacy",
        "--noise-multiplier",
        "1",
        "--clients",
        "50",
        "--mechanism",
        "skellam",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("mechanism").str(), "skellam");
    assert!(json.get("epsilon").float() > 0.0);
    let (out, json) = run_json(&[
        "params",
        "--clients",
        "2",
        "--dropout",
        "0.9",
        "--corrupt",
        "0.9",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!json.get("error").str().is_empty());
}

#[test]
fn malicious_default_min_roster_is_the_roster_the_schedule_leaves() {
    let args = [
        "simulate",
        "--clients",
        "10",
        "--dim",
        "3",
        "--malicious",
        "--drop",
        "0:2",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("verified"), &Json::Bool(true));
    // Asking for the full roster when one client drops before it is formed aborts.
    let (out, _) = run_json(&[&args[..], &["--min-roster", "10"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn perf_report_help_prints_help_and_runs_nothing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/perf_report.py");
    let Ok(out) = Command::new("python3").args([script, "--help"]).output() else {
        return; // no python3 here
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("usage:") && text.contains("--quick"),
        "{text}"
    );
}

/// Just enough JSON to read the binary's output, checking that it is well formed.

#[test]
fn dropout_round_puts_every_dropping_client_in_one_round() {
    let (out, json) = run_json(&[
        "simulate",
        "--clients",
        "20",
        "--dim",
        "50",
        "--dropout",
        "0.2",
        "--dropout-round",
        "masked_input",
        "--threads",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let by_round = json.get("dropped_by_round");
    assert_eq!(by_round.get("masked_input").nums().len(), 4);
    for round in ["advertise_keys", "share_keys", "unmasking"] {
        assert!(by_round.get(round).nums().is_empty(), "{round}");
    }
    assert_eq!(json.get("client_threads").num(), 3);
    assert!(json.get("keystream_bytes_per_second").float() > 0.0);
    // The server rebuilds the pairwise masks of the 4 clients dropped at masked_input.
    let unmasking = &json.get("rounds").items()[3];
    assert!(unmasking.get("server_ideal_seconds").float() > 0.0);
    assert_eq!(json.get("verified"), &Json::Bool(true));
    let bad = run(&["simulate", "--dropout-round", "7"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = run(&["simulate", "--threads", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn rejects_sessions_too_large_to_hold_in_memory() {
    let out = run(&["simulate", "--clients", "65536", "--dim", "268435456"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GiB of memory"), "{}", stderr(&out));
}

#[test]
fn params_prints_k_t_and_graph_as_json() {
    let (out, json) = run_json(&[
        "params",
        "--clients",
        "1000",
        "--dropout",
        "0.05",
        "--corrupt",
        "0.05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("graph").str(), "harary");
    assert_eq!(json.get("require_majority"), &Json::Bool(false));
    let (k, t) = (json.get("k").num(), json.get("t").num());
    assert!(k >= 2 && k % 2 == 0 && k < 999, "k = {k}");
    assert!(t >= 2 && t <= k + 1, "t = {t} for k = {k}");
    let (_, malicious) = run_json(&[
        "params",
        "--clients",
        "1000",
        "--dropout",
        "0.05",
        "--corrupt",
        "0.05",
        "--malicious",
    ]);
    assert!(
        malicious.get("k").num() > k,
        "the malicious model needs a larger degree"
    );
}

/// The three cases issue 15 names, against Google's `graph_parameter_finder_test.cc`
/// (google-parfait/federated-compute, `fcp/secagg/server/`): (n, corrupt, dropout) ->
/// (k, t) = (1000, 0.05, 0.05) -> (30, 17), (1000, 0.05, 0.33) -> (72, 24),
/// (100000, 0.05, 0.33) -> (96, 32). Every case of that file is in `src/finder.rs`.
#[test]
fn params_is_within_twenty_percent_of_googles_degree() {
    for (clients, dropout, google_k) in [
        ("1000", "0.05", 30),
        ("1000", "0.33", 72),
        ("100000", "0.33", 96),
    ] {
        let args = [
            "params",
            "--clients",
            clients,
            "--dropout",
            dropout,
            "--corrupt",
            "0.05",
        ];
        let (out, json) = run_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let k = json.get("k").num();
        assert!(
            5 * k.abs_diff(google_k) <= google_k,
            "{clients} {dropout}: k = {k}, Google's {google_k}"
        );
        // The majority is defence in depth, and costs a larger degree at high dropout.
        let (out, majority) = run_json(&[&args[..], &["--require-majority"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(majority.get("require_majority"), &Json::Bool(true));
        let (mk, mt) = (majority.get("k").num(), majority.get("t").num());
        assert!(2 * mt > mk + 1, "t = {mt} for k = {mk}");
        assert!(mk >= k, "{mk} < {k}");
        if dropout == "0.33" {
            assert!(mk > 2 * k, "{clients}: {mk} vs {k}");
        }
    }
}

#[test]
fn simulate_accepts_a_minority_threshold_unless_a_majority_is_required() {
    let args = [
        "simulate",
        "--clients",
        "10",
        "--dim",
        "3",
        "--threshold",
        "3",
    ];
    let (out, json) = run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("threshold").num(), 3);
    assert_eq!(json.get("verified"), &Json::Bool(true));
    let out = run(&[&args[..], &["--require-majority"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("threshold 3"), "{}", stderr(&out));
}

#[test]
fn params_falls_back_to_the_complete_graph_for_few_clients() {
    let (out, json) = run_json(&[
        "params",
        "--clients",
        "6",
        "--dropout",
        "0.2",
        "--corrupt",
        "0.2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("graph").str(), "complete");
    assert_eq!(json.get("k").num(), 5);
}

#[test]
fn simulate_with_neighbours_uses_sparse_graph() {
    let (out, json) = run_json(&[
        "simulate",
        "--clients",
        "40",
        "--dim",
        "20",
        "--neighbours",
        "6",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json.get("graph").str(), "harary");
    assert_eq!(json.get("verified"), &Json::Bool(true));
}

#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    fn find(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> &Json {
        self.find(key)
            .unwrap_or_else(|| panic!("no field {key:?} in {self:?}"))
    }

    fn num(&self) -> u128 {
        match self {
            Json::Num(n) => n.parse().unwrap(),
            _ => panic!("not a number: {self:?}"),
        }
    }

    fn float(&self) -> f64 {
        match self {
            Json::Num(n) => n.parse().unwrap(),
            _ => panic!("not a number: {self:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    fn items(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => panic!("not an array: {self:?}"),
        }
    }

    fn nums(&self) -> Vec<u64> {
        self.items()
            .iter()
            .map(|x| u64::try_from(x.num()).unwrap())
            .collect()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let rest = &self.s[self.i..];
        for (word, v) in [
            ("null", Json::Null),
            ("true", Json::Bool(true)),
            ("false", Json::Bool(false)),
        ] {
            if rest.starts_with(word.as_bytes()) {
                self.i += word.len();
                return Ok(v);
            }
        }
        match rest.first() {
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => self.list(b'[', b']', |p| p.value()).map(Json::Arr),
            Some(b'{') => self
                .list(b'{', b'}', |p| {
                    p.ws();
                    let k = p.string()?;
                    p.eat(b':')?;
                    Ok((k, p.value()?))
                })
                .map(Json::Obj),
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let len = rest
                    .iter()
                    .take_while(|c| c.is_ascii_digit() || b"-+.eE".contains(c))
                    .count();
                self.i += len;
                let n = core::str::from_utf8(&rest[..len]).unwrap().to_owned();
                n.parse::<f64>().map_err(|e| format!("{n}: {e}"))?;
                Ok(Json::Num(n))
            }
            _ => Err(format!("unexpected byte at {}", self.i)),
        }
    }

    fn list<T>(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        self.eat(open)?;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&close) {
            self.i += 1;
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(c) if *c == close => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return Err(format!("expected ',' or close at byte {}", self.i)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    out.push(match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'u' => {
                            let hex = core::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap()
                        }
                        other => other as char,
                    });
                }
                _ => {
                    // Multi-byte UTF-8 passes through byte by byte.
                    let start = self.i - 1;
                    let len = match c {
                        0..0x80 => 1,
                        0xc0..0xe0 => 2,
                        0xe0..0xf0 => 3,
                        _ => 4,
                    };
                    out.push_str(core::str::from_utf8(&self.s[start..start + len]).unwrap());
                    self.i = start + len;
                }
            }
        }
    }
}
