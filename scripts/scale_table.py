#!/usr/bin/env python3
"""One SecAgg+ round at n = 10^3 .. 10^6, both threat models: the tables of docs/PERFORMANCE.md §4b.

Usage: cargo build --release && python3 scripts/scale_table.py [--sizes 1000,10000,...]
           [--full-max N] [--full-max-malicious N] [--sample S] [--dim D] [--models hbc,mal] [--out DIR] [--reuse]

For each n and threat model it asks `secagg params` for the finder's (k, t) at 5% dropout and
5% corruption, then runs
  * `secagg simulate --sample-clients S --stand-ins` (every n): what one client receives,
    sends and spends in each round, the mean of the S measured clients; and, since the
    simulator stands in for every other client, the server's seconds in each round of a
    session of n (and of its close alone) and the process's peak resident memory;
  * `secagg simulate --threads 1` of the whole session (n <= --full-max, or
    --full-max-malicious), for comparison: every client real, one at a time so that the
    server's thread has a core of its own.
Every JSON report is kept in --out; the tables on stdout come from them, nothing typed by hand.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "target", "release", "secagg")
ROUNDS = ["advertise_keys", "share_keys", "masked_input", "consistency", "unmasking"]
SHORT = {"advertise_keys": "AdvertiseKeys", "share_keys": "ShareKeys",
         "masked_input": "MaskedInput", "consistency": "Consistency", "unmasking": "Unmasking"}


def finder(n, malicious):
    cmd = [BIN, "params", "--clients", str(n), "--dropout", "0.05", "--corrupt", "0.05", "--json"]
    if malicious:
        cmd.append("--malicious")
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return out["k"], out["t"]


def simulate(args, path, reuse=False):
    if reuse and os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
        if report["command"] == "secagg simulate " + " ".join(map(str, args)):
            return report
    cmd = [BIN, "simulate", "--json", *map(str, args)]
    with open(os.devnull) as null:
        out = subprocess.run(cmd, capture_output=True, text=True, stdin=null)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr}")
    report = json.loads(out.stdout)
    report["command"] = "secagg simulate " + " ".join(map(str, args))
    report["load_after"] = os.getloadavg()[0]
    with open(path, "w") as f:
        json.dump(report, f)
    return report


def by_round(report):
    return {r["name"]: r for r in report["rounds"]}


def cell(rounds, name, fmt):
    r = rounds.get(name)
    return fmt(r) if r else "–"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000,10000,100000,1000000")
    p.add_argument("--full-max", type=int, default=100000)
    p.add_argument("--full-max-malicious", type=int, default=10000)
    p.add_argument("--sample", type=int, default=8)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--out", default=os.path.join(ROOT, "target", "scale"))
    p.add_argument("--models", default="hbc,mal", help="hbc, mal or both")
    p.add_argument("--reuse", action="store_true",
                   help="take a run's JSON report from --out when it holds the same command")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sampled, whole = [], []
    for n in map(int, a.sizes.split(",")):
        for malicious in [m == "mal" for m in a.models.split(",")]:
            k, t = finder(n, malicious)
            model = "malicious" if malicious else "honest-but-curious"
            common = ["--clients", n, "--dim", a.dim, "--neighbours", k, "--threshold", t,
                      "--dropout", "0.05"]
            if malicious:
                common.append("--malicious")
            tag = f"{n}-{'mal' if malicious else 'hbc'}"
            print(f"# {tag}: sampled", file=sys.stderr, flush=True)
            s = simulate(common + ["--sample-clients", a.sample, "--stand-ins"],
                         os.path.join(a.out, f"{tag}-stand-ins.json"), a.reuse)
            sampled.append((n, model, k, t, s))
            if n <= (a.full_max_malicious if malicious else a.full_max):
                print(f"# {tag}: whole session", file=sys.stderr, flush=True)
                # One client at a time, so that the server (on the driver's thread) has a
                # core of its own on a two-core machine.
                w = simulate(common + ["--threads", 1], os.path.join(a.out, f"{tag}-whole.json"), a.reuse)
                whole.append((n, model, k, t, w))

    print("One client, per round (the mean of the measured clients of `--sample-clients`):\n")
    head = "| n | threat model | k, t | " + " | ".join(SHORT[r] for r in ROUNDS) + " |"
    rule = "|---|---|---|" + "---:|" * len(ROUNDS)
    for title, fmt in [
        ("Bytes received", lambda r: f"{r['bytes_received_per_client']:,.0f}"),
        ("Bytes sent", lambda r: f"{r['bytes_sent_per_client']:,.0f}"),
        ("Client time (ms, one core)", lambda r: f"{1e3 * r['client_seconds']:.2f}"),
    ]:
        print(f"**{title}**\n\n{head}\n{rule}")
        for n, model, k, t, s in sampled:
            rounds = by_round(s)
            print(f"| {n:,} | {model} | {k}, {t} | " + " | ".join(cell(rounds, r, fmt) for r in ROUNDS) + " |")
        print()
    fmt = lambda r: (f"{r['server_seconds']:.3f} s ({r['server_close_seconds']:.3f}), "
                     f"{r.get('process_peak_bytes', 0) / 2**20:,.0f} MiB")
    for title, runs in [
        ("The server, per round, in a session of n (`--stand-ins`: the measured clients and a "
         "stand-in for every other): seconds receiving, building each client's messages and "
         "closing (of which the close), and the process's peak resident memory (the server, the "
         "stand-ins' round-0 states and the measured clients):", sampled),
        ("For comparison, whole sessions (every client real, `--threads 1`), where they run "
         "here:", whole),
    ]:
        if not runs:
            continue
        print(f"{title}\n")
        print(head + " total |")
        print(rule + "---:|")
        for n, model, k, t, w in runs:
            rounds = by_round(w)
            total = sum(r["server_seconds"] for r in w["rounds"])
            print(f"| {n:,} | {model} | {k}, {t} | " + " | ".join(cell(rounds, r, fmt) for r in ROUNDS)
                  + f" | {total:.2f} s |")
        print()
    print("\nCommands and load (1-minute average after each run):\n")
    for n, model, k, t, r in sampled + whole:
        print(f"* `{r['command']}` (load {r['load_after']:.1f}, {r['total_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
