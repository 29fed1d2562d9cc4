#!/usr/bin/env python3
"""Flower's SecAgg+ and `secagg simulate` on the same inputs, in one run.

The script makes integer inputs from a seed, picks the clients that drop, and then
runs both implementations on them:

* `secagg simulate --inputs FILE ... --drop 2:IDS --json` (the Rust binary of this
  repository), which times every round and checks its own sum; and
* Flower's own SecAgg+ code, in this process: the server side is
  `SecAggPlusWorkflow` (flwr.server.workflow.secure_aggregation.secaggplus_workflow),
  whose four stage methods are called one after another, and every client is Flower's
  `secaggplus_mod` (flwr.client.mod.secure_aggregation.secaggplus_mod) with its own
  `Context`. Messages travel through an in-memory `Grid` (no network, no Ray, no
  SuperLink) that hands each client a private copy of its message and keeps the
  dropped clients silent from the "collect masked vectors" stage on.

Both sums are checked against the plain sum mod 2^32 of the surviving clients' inputs.

Only two things of Flower are replaced, both outside its cryptographic and mask work:
Flower's float quantization (`quantize` in the client mod) and dequantization
(`dequantize` in the server workflow). Inputs here are already integers in [0, 2^32),
which Flower's float path cannot carry exactly (it clips to a float range and rounds
stochastically into int32), so the client-side replacement turns the vector back into
int64 exactly and the server-side replacement keeps the integer sum that Flower
reconstructed. Key agreement, Shamir sharing, share encryption, mask generation, the
mod-2^32 arithmetic, message handling and the client state bookkeeping are Flower's.

Flower's masks come from numpy's Mersenne Twister (`np.random.RandomState`) seeded
with 32 bits: that generator is not cryptographic. Every report says so.

Run `python3 benches/peers/flower_secaggplus.py --preset quick`. On first use the
script creates benches/peers/.venv, installs requirements.txt into it and re-executes
itself there. See README.md in this directory.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_SECAGG = REPO / "target" / "release" / "secagg"

MODULUS_BITS = 32
MODULUS = 1 << MODULUS_BITS

# Flower's stages, in order, and the secagg rounds that do the same job.
STAGES = ("setup", "share_keys", "collect_masked_vectors", "unmask")
SECAGG_ROUNDS = ("advertise_keys", "share_keys", "masked_input", "unmasking")
# Index of "collect masked vectors" in STAGES, and secagg's round number for it
# (`--drop 2:...`): a client dropped there goes silent from this stage on.
DROP_STAGE = 2

# Weight every Flower client reports (FitRes.num_examples) and the workflow's
# max_weight: equal, so Flower's weighting ratio is exactly 1 and the vector is not
# scaled before masking.
WEIGHT = 1000

PRG_CAVEAT = (
    "Flower's masks come from numpy's Mersenne Twister (np.random.RandomState) seeded "
    "with a 32-bit XOR-fold of the 32-byte key: it is not a cryptographic generator "
    "(2^32 seeds to try, and MT19937's outputs are predictable from earlier ones), "
    "and its randint(0, 2^32 - 1) never yields 2^32 - 1. secagg expands masks with "
    "a cryptographic stream cipher (ChaCha20, or AES-128-CTR with --suite aes128ctr). "
    "The timings compare speed only, not equal security."
)


@dataclass(frozen=True)
class Workload:
    """One session: the same parameters for Flower and for secagg."""

    name: str
    clients: int
    dim: int
    # Degree k of the neighbourhood graph (Bell et al.): each client's neighbours, not
    # counting itself. None means the complete graph (SecAgg, k = n - 1).
    degree: int | None
    threshold: int | None = None  # None: the smallest valid one (a majority of H)

    @property
    def holders(self) -> int:
        """H: how many clients hold a share of each client's secrets, itself included.

        This is Flower's `num_shares` (its ring neighbourhood counts the client) and
        secagg's K + 1.
        """
        return self.clients if self.degree is None else self.degree + 1

    @property
    def t(self) -> int:
        """Shamir threshold: the number of shares that rebuild a secret."""
        return self.threshold if self.threshold is not None else self.holders // 2 + 1

    def describe(self) -> str:
        graph = "complete graph" if self.degree is None else f"k={self.degree}"
        return f"n={self.clients} d={self.dim} {graph} H={self.holders} t={self.t}"


PRESETS = {
    "quick": Workload("quick", 20, 1_000, 6),
    "A": Workload("A", 100, 100_000, 20),
    "B": Workload("B", 1_000, 10_000, 20),
    "C": Workload("C", 100, 100_000, None),
}

# Flower's timings on this machine, as published in issue 5 (per-client s, server s).
PUBLISHED_FLOWER = {"A": (0.14, 12.7), "B": (0.13, 126.0), "C": (2.9, 212.0)}


def progress(text: str) -> None:
    """Progress notes go to stderr, so `--json` keeps stdout clean."""
    print(f"[peers] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The virtual environment
# --------------------------------------------------------------------------------------


def ensure_venv(argv: list[str]) -> None:
    """Re-execute this script inside benches/peers/.venv, creating it if needed.

    requirements.txt is installed again whenever it differs from the copy saved in
    the venv at the last install.
    """
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        progress(f"creating the virtual environment {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = VENV / "installed-requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        progress(f"installing {REQUIREMENTS.name} into the virtual environment")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
            check=True,
        )
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *argv])


# --------------------------------------------------------------------------------------
# Inputs shared by both implementations
# --------------------------------------------------------------------------------------


def make_inputs(w: Workload, seed: int, dropout: float) -> tuple[Any, list[int]]:
    """Client inputs (row i is client id i + 1) and the sorted ids that drop."""
    import numpy as np

    inputs = np.random.default_rng([seed, 0]).integers(
        0, MODULUS, size=(w.clients, w.dim), dtype=np.int64
    )
    count = round(dropout * w.clients)
    picked = np.random.default_rng([seed, 1]).choice(w.clients, size=count, replace=False)
    return inputs, sorted(int(i) + 1 for i in picked)


def plain_sum(inputs: Any, survivors: list[int]) -> Any:
    """Sum mod 2^32 of the survivors' inputs (fits int64: n * 2^32 < 2^63)."""
    import numpy as np

    rows = np.asarray(survivors, dtype=np.int64) - 1
    return inputs[rows].sum(axis=0, dtype=np.int64) % MODULUS


def write_inputs(inputs: Any, path: Path) -> None:
    """The `--inputs` format: one line per client, decimal integers, spaces between."""
    with path.open("w") as out:
        for row in inputs:
            out.write(" ".join(map(str, row.tolist())))
            out.write("\n")


# --------------------------------------------------------------------------------------
# secagg
# --------------------------------------------------------------------------------------


def run_secagg(
    binary: Path, w: Workload, inputs_file: Path, dropped: list[int], seed: int,
    expected: Any, survivors: list[int], rayon_threads: int | None, suite: str,
) -> dict[str, Any]:
    """Run `secagg simulate` on the inputs file and read its JSON report."""
    import numpy as np

    cmd = [
        str(binary), "simulate", "--inputs", str(inputs_file),
        "--clients", str(w.clients), "--dim", str(w.dim), "--bits", str(MODULUS_BITS),
        "--threshold", str(w.t), "--seed", str(seed), "--suite", suite, "--json",
    ]
    if w.degree is not None:
        cmd += ["--neighbours", str(w.degree)]
    if dropped:
        cmd += ["--drop", f"{DROP_STAGE}:" + ",".join(map(str, dropped))]
    env = dict(os.environ)
    if rayon_threads is not None:
        env["RAYON_NUM_THREADS"] = str(rayon_threads)
    progress("secagg: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    # Exit codes of `secagg simulate`: 0 the sum matched, 1 session aborted, 2 bad
    # usage or inputs, 3 the sum did not match.
    if proc.returncode not in (0, 3):
        raise SystemExit(
            f"secagg simulate failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    report = json.loads(proc.stdout)
    rounds = {r["name"]: r for r in report["rounds"]}
    client = {name: rounds[name]["client_seconds"] for name in SECAGG_ROUNDS}
    server = {name: rounds[name]["server_seconds"] for name in SECAGG_ROUNDS}
    # Exact when the binary verified its sum (exit 0, "verified"), it summed exactly
    # the survivors, and its sum is the plain sum computed here.
    sum_ok = (
        proc.returncode == 0
        and report.get("verified") is True
        and report.get("included") == survivors
        and np.array_equal(np.asarray(report["sum"], dtype=np.int64), expected)
    )
    return {
        "command": cmd,
        "exit_code": proc.returncode,
        "client_seconds_by_round": client,
        "server_seconds_by_round": server,
        "client_seconds": sum(client.values()),
        "server_seconds": sum(server.values()),
        "clients_by_round": {name: rounds[name]["clients"] for name in SECAGG_ROUNDS},
        "total_seconds": report.get("total_seconds"),
        "graph": report.get("graph"),
        "threshold": report.get("threshold"),
        "sum_exact": bool(sum_ok),
    }


# --------------------------------------------------------------------------------------
# Flower
# --------------------------------------------------------------------------------------


class FlowerHarness:
    """Flower's SecAgg+ server workflow and client mod, wired together in memory."""

    RUN_ID = 1

    def __init__(self) -> None:
        # Imported here: only the re-executed script (inside the venv) has flwr.
        import numpy as np
        from importlib.metadata import version

        self.np = np
        self.version = version("flwr")

        from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
        from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
        from flwr.common.constant import SUPERLINK_NODE_ID
        from flwr.common.secure_aggregation.secaggplus_constants import (
            RECORD_KEY_CONFIGS,
            Key,
        )
        from flwr.compat.common import recorddict_compat
        from flwr.server import LegacyContext, ServerConfig, SimpleClientManager
        from flwr.server.compat.grid_client_proxy import GridClientProxy
        from flwr.server.strategy import FedAvg
        from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
        from flwr.server.workflow.constant import Key as WorkflowKey
        from flwr.serverapp import Grid
        from flwr.supercore.task_identity import TaskIdentity

        # Keep Flower's console quiet below WARNING. Its logger keeps its own level
        # (DEBUG), so the mod and the workflow build their log records as they do in a
        # deployment; only the printing is filtered.
        for handler in logging.getLogger("flwr").handlers:
            handler.setLevel(logging.WARNING)

        # The package __init__ files re-export the function `secaggplus_mod` under the
        # module's own name, so the modules are fetched by their full names.
        self.mod_module = importlib.import_module(
            "flwr.client.mod.secure_aggregation.secaggplus_mod"
        )
        self.workflow_module = importlib.import_module(
            "flwr.server.workflow.secure_aggregation.secaggplus_workflow"
        )

        # Flower's message constructor reads the identity of the running task; set it
        # as Flower's own ServerApp runner does (the server is the SuperLink node).
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = self.RUN_ID
        TaskIdentity.node_id = SUPERLINK_NODE_ID

        self.ArrayRecord, self.ConfigRecord = ArrayRecord, ConfigRecord
        self.Context, self.Message, self.RecordDict = Context, Message, RecordDict
        self.Code, self.FitRes, self.Status = Code, FitRes, Status
        self.ndarrays_to_parameters = ndarrays_to_parameters
        self.RECORD_KEY_CONFIGS, self.Key = RECORD_KEY_CONFIGS, Key
        self.compat = recorddict_compat
        self.LegacyContext, self.ServerConfig = LegacyContext, ServerConfig
        self.SimpleClientManager, self.GridClientProxy = SimpleClientManager, GridClientProxy
        self.MAIN_CONFIGS_RECORD, self.MAIN_PARAMS_RECORD = MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
        self.WorkflowKey = WorkflowKey
        self.Grid = Grid

        class SumOnly(FedAvg):
            """FedAvg's client sampling; the float average Flower would compute from
            the dequantized sum is not SecAgg+ work and is skipped."""

            def aggregate_fit(self, server_round, results, failures):  # type: ignore[override]
                return None, {}

        self.SumOnly = SumOnly
        self._install_integer_passthrough()

    # -- the two replaced functions ---------------------------------------------------

    def _install_integer_passthrough(self) -> None:
        """Replace Flower's float quantization and dequantization, nothing else.

        Client side: `_collect_masked_vectors` multiplies the update by the weight
        ratio (exactly 1.0 here, so int64 inputs become the same values as float64,
        exact below 2^53), then calls `quantize`; the replacement turns them back into
        int64 instead of clipping and stochastically rounding into int32. Flower then
        prepends its weight factor and adds its masks mod 2^32 as usual.

        Server side: `unmask_stage` removes the masks, takes the sum mod 2^32, drops
        the weight factor and calls `dequantize`; the replacement records that
        integer sum and returns it as floats, which the workflow offsets and scales
        into a float vector that is then ignored.
        """
        np = self.np
        captured: dict[str, Any] = {}

        def integers_unchanged(parameters, clipping_range, target_range):
            return [np.asarray(a).astype(np.int64) for a in parameters]

        def keep_integer_sum(quantized_parameters, clipping_range, target_range):
            captured["sum"] = [np.array(a, dtype=np.int64) for a in quantized_parameters]
            return [np.asarray(a).astype(np.float64) for a in quantized_parameters]

        self.mod_module.quantize = integers_unchanged
        self.workflow_module.dequantize = keep_integer_sum
        self.captured = captured

    # -- one session -------------------------------------------------------------------

    def run(
        self, w: Workload, inputs: Any, dropped: list[int], seed: int, label: str = "Flower"
    ) -> dict[str, Any]:
        h = self
        np = self.np
        silent = set(dropped)
        stage_index = {name: i for i, name in enumerate(STAGES)}

        class Client:
            """One Flower client node: its Context and Flower's SecAgg+ mod.

            The "ClientApp" behind the mod only answers the train message of the
            collect-masked-vectors stage with this client's input vector; its time is
            measured and left out of the client's SecAgg+ time.
            """

            def __init__(self, nid: int, vector: Any) -> None:
                self.nid = nid
                self.vector = vector
                self.context = h.Context(
                    run_id=h.RUN_ID, node_id=nid, node_config={},
                    state=h.RecordDict(), run_config={},
                )
                self.seconds: dict[str, float] = {}
                self._app_seconds = 0.0

            def _client_app(self, msg: Any, ctxt: Any) -> Any:
                start = time.perf_counter()
                fitres = h.FitRes(
                    status=h.Status(code=h.Code.OK, message=""),
                    parameters=h.ndarrays_to_parameters([self.vector]),
                    num_examples=WEIGHT,
                    metrics={},
                )
                reply = h.Message(h.compat.fitres_to_recorddict(fitres, False), reply_to=msg)
                self._app_seconds += time.perf_counter() - start
                return reply

            def handle(self, stage: str, msg: Any) -> Any:
                self._app_seconds = 0.0
                start = time.perf_counter()
                reply = h.mod_module.secaggplus_mod(msg, self.context, self._client_app)
                self.seconds[stage] = time.perf_counter() - start - self._app_seconds
                return reply

        class InMemoryGrid(h.Grid):
            """Delivers the workflow's messages to the clients, in this process.

            Each client receives a deep copy of its message, as it would after the
            network (the workflow shares one content object between clients in the
            setup stage, and the mod consumes the stage key from it). Clients that
            drop never answer from the collect-masked-vectors stage on. Time spent in
            here (the clients' work and the copying) is not the server's.
            """

            def __init__(self, clients: dict[int, Client]) -> None:
                self.clients = clients
                self.seconds = 0.0
                self._run: Any = None

            def set_run(self, run: Any) -> None:
                self._run = run

            @property
            def run(self) -> Any:
                return self._run

            def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
                return h.Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

            def get_node_ids(self) -> list[int]:
                return list(self.clients)

            def push_messages(self, messages):
                raise NotImplementedError("the SecAgg+ workflow only uses send_and_receive")

            def pull_messages(self, message_ids):
                raise NotImplementedError("the SecAgg+ workflow only uses send_and_receive")

            def send_and_receive(self, messages, *, timeout=None):
                start = time.perf_counter()
                replies = []
                for msg in messages:
                    nid = msg.metadata.dst_node_id
                    stage = msg.content.config_records[h.RECORD_KEY_CONFIGS][h.Key.STAGE]
                    if nid in silent and stage_index[stage] >= DROP_STAGE:
                        continue
                    delivered = h.Message(
                        content=copy.deepcopy(msg.content),
                        metadata=copy.deepcopy(msg.metadata),
                    )
                    replies.append(self.clients[nid].handle(stage, delivered))
                self.seconds += time.perf_counter() - start
                return replies

        # Flower node ids are the secagg client ids 1..n, so the dropped ids are the
        # same clients in both runs. Flower shuffles its ring with `random`: seed it.
        random.seed(seed)
        clients = {nid: Client(nid, inputs[nid - 1]) for nid in range(1, w.clients + 1)}
        grid = InMemoryGrid(clients)

        # The server: a LegacyContext with every client registered, FedAvg sampling
        # all of them, an empty global model (nothing to ship to the clients), round 1.
        manager = self.SimpleClientManager()
        for nid in clients:
            manager.register(self.GridClientProxy(nid, grid, self.RUN_ID))
        strategy = self.SumOnly(
            fraction_fit=1.0, fraction_evaluate=0.0,
            min_fit_clients=w.clients, min_available_clients=w.clients,
        )
        context = self.LegacyContext(
            self.Context(run_id=self.RUN_ID, node_id=0, node_config={},
                         state=self.RecordDict(), run_config={}),
            config=self.ServerConfig(num_rounds=1),
            strategy=strategy,
            client_manager=manager,
        )
        context.state.config_records[self.MAIN_CONFIGS_RECORD] = self.ConfigRecord(
            {self.WorkflowKey.CURRENT_ROUND: 1, self.WorkflowKey.START_TIME: time.time()}
        )
        context.state.array_records[self.MAIN_PARAMS_RECORD] = self.ArrayRecord()

        # num_shares = H (the ring neighbourhood, the client itself included);
        # reconstruction_threshold = t shares; modulus 2^32; weights as above.
        workflow = self.workflow_module.SecAggPlusWorkflow(
            num_shares=w.holders,
            reconstruction_threshold=w.t,
            max_weight=float(WEIGHT),
            modulus_range=MODULUS,
        )
        state = self.workflow_module.WorkflowState()
        self.captured.clear()

        # SecAggPlusWorkflow.__call__ runs these four steps in this order and stops at
        # the first that returns False; they are called one by one here so that each
        # stage's server time is known. Server time = the step's wall time minus the
        # time spent inside the grid (clients and message copies).
        steps = (
            workflow.setup_stage,
            workflow.share_keys_stage,
            workflow.collect_masked_vectors_stage,
            workflow.unmask_stage,
        )
        server: dict[str, float] = {}
        for stage, step in zip(STAGES, steps):
            progress(f"{label}: stage {stage}")
            in_grid = grid.seconds
            start = time.perf_counter()
            ok = step(grid, context, state)
            server[stage] = time.perf_counter() - start - (grid.seconds - in_grid)
            if not ok:
                raise SystemExit(f"Flower's workflow halted at stage {stage}")
            if stage == "setup":
                # Flower's ring neighbourhoods, each client included: all of size H.
                sizes = sorted({len(v) for v in state.nid_to_neighbours.values()})

        # Mean seconds per client for each stage, over the clients that took part.
        client: dict[str, float] = {}
        participants: dict[str, int] = {}
        for stage in STAGES:
            times = [c.seconds[stage] for c in clients.values() if stage in c.seconds]
            participants[stage] = len(times)
            client[stage] = sum(times) / len(times) if times else 0.0

        survivors = [nid for nid in clients if nid not in silent]
        result = self.captured.get("sum")
        sum_ok = (
            result is not None
            and sizes == [w.holders]
            and len(result) == 1
            and sorted(state.active_node_ids) == survivors
            and np.array_equal(result[0], plain_sum(inputs, survivors))
        )
        return {
            "flwr_version": self.version,
            "num_shares": w.holders,
            "reconstruction_threshold": w.t,
            "client_seconds_by_stage": client,
            "server_seconds_by_stage": server,
            "client_seconds": sum(client.values()),
            "server_seconds": sum(server.values()),
            "clients_by_stage": participants,
            "neighbourhood_sizes": sizes,
            "sum_exact": bool(sum_ok),
        }


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1 else f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}x"


def yes_no(x: bool | None) -> str:
    return "-" if x is None else ("yes" if x else "NO")


def print_report(results: list[dict[str, Any]], flwr_version: str | None) -> None:
    head = (
        "workload", "n", "d", "k", "H", "t", "dropped",
        "Flower client s", "secagg client s", "ratio",
        "Flower server s", "secagg server s", "ratio",
        "sum exact Flower", "sum exact secagg",
    )
    rows = []
    for r in results:
        w, f, s = r["workload"], r.get("flower"), r.get("secagg")
        rows.append((
            w["name"], str(w["clients"]), str(w["dim"]),
            "n-1" if w["degree"] is None else str(w["degree"]),
            str(w["holders"]), str(w["threshold"]), str(len(r["dropped"])),
            fmt_s(f and f["client_seconds"]), fmt_s(s and s["client_seconds"]),
            fmt_ratio(r["ratios"]["client"]),
            fmt_s(f and f["server_seconds"]), fmt_s(s and s["server_seconds"]),
            fmt_ratio(r["ratios"]["server"]),
            yes_no(f and f["sum_exact"]), yes_no(s and s["sum_exact"]),
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(wd) for c, wd in zip(cells, widths))  # noqa: E731
    dropout = results[0]["workload"]["dropout"] if results else 0.0
    print(f"Flower SecAgg+ (flwr {flwr_version or '-'}) vs secagg simulate, modulus 2^32,"
          f" {dropout:.0%} of the clients drop at the masked-input stage")
    print("client s = mean seconds per client, summed over the stages; server s = total;"
          " ratio = Flower / secagg")
    print()
    print(line(head))
    for row in rows:
        print(line(row))

    for r in results:
        f, s = r.get("flower"), r.get("secagg")
        print()
        print(f"workload {r['workload']['name']}: per stage (client mean s / server s);"
              f" dropped ids: {', '.join(map(str, r['dropped'])) or 'none'}")
        for stage, rnd in zip(STAGES, SECAGG_ROUNDS):
            fc = fmt_s(f and f["client_seconds_by_stage"][stage])
            fs = fmt_s(f and f["server_seconds_by_stage"][stage])
            sc = fmt_s(s and s["client_seconds_by_round"][rnd])
            ss = fmt_s(s and s["server_seconds_by_round"][rnd])
            print(f"  {stage:>22} / {rnd:<14}  Flower {fc:>9} / {fs:>9}"
                  f"   secagg {sc:>9} / {ss:>9}")
        pub = PUBLISHED_FLOWER.get(r["workload"]["name"])
        if pub:
            print(f"  Flower timings published in issue 5 for {r['workload']['name']}:"
                  f" {pub[0]} s/client, {pub[1]} s server")
    print()
    print("NOTE: " + PRG_CAVEAT)
    print("NOTE: Flower's float quantization is bypassed (integer inputs pass unchanged;"
          " see README.md); everything else is Flower's own code.")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run Flower's own SecAgg+ and `secagg simulate` on the same inputs "
        "and compare their client and server times and sums.",
        epilog="presets: " + "; ".join(
            f"{name}: {w.describe()}" for name, w in PRESETS.items()
        ) + ". k is the degree (neighbours, the client not counted); H = k + 1 is "
        "Flower's num_shares. Example: %(prog)s --preset quick",
    )
    p.add_argument("--preset", nargs="+", choices=sorted(PRESETS), metavar="NAME",
                   help="one or more of: " + ", ".join(PRESETS))
    p.add_argument("--clients", type=int, help="custom workload: number of clients n")
    p.add_argument("--dim", type=int, help="custom workload: vector length d")
    graph = p.add_mutually_exclusive_group()
    graph.add_argument("--neighbours", type=int, metavar="K",
                       help="custom workload: degree k (even, 2 <= k <= n - 2)")
    graph.add_argument("--complete", action="store_true",
                       help="custom workload: the complete graph (SecAgg)")
    p.add_argument("--threshold", type=int, metavar="T",
                   help="Shamir threshold t for both (default: floor(H/2) + 1)")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="fraction of clients dropping at the masked-input stage (0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and dropouts (0)")
    p.add_argument("--secagg", type=Path, default=DEFAULT_SECAGG,
                   help="the secagg binary (default: target/release/secagg)")
    p.add_argument("--secagg-rayon-threads", type=int, metavar="N",
                   help="set RAYON_NUM_THREADS=N for secagg (its server's parallel "
                   "unmasking; default: unset, all cores)")
    p.add_argument("--suite", choices=("chacha20", "aes128ctr"), default="chacha20",
                   help="secagg's mask cipher (default chacha20); both are cryptographic")
    p.add_argument("--only", choices=("flower", "secagg"), help="run one side only")
    p.add_argument("--keep-inputs", type=Path, metavar="FILE",
                   help="write the inputs file here and keep it")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-venv", action="store_true",
                   help="use this interpreter as it is (flwr must be importable)")
    args = p.parse_args(argv)

    custom = args.clients is not None or args.dim is not None
    if args.preset and (custom or args.neighbours is not None or args.complete):
        p.error("use either --preset or --clients/--dim/--neighbours/--complete")
    if not args.preset and not custom:
        p.error("choose --preset NAME or a custom workload (--clients N --dim D ...)")
    if custom:
        if args.clients is None or args.dim is None:
            p.error("a custom workload needs both --clients and --dim")
        if args.neighbours is None and not args.complete:
            p.error("a custom workload needs --neighbours K or --complete")
        args.workloads = [Workload("custom", args.clients, args.dim, args.neighbours)]
    else:
        args.workloads = [PRESETS[name] for name in args.preset]
    if args.threshold is not None:
        args.workloads = [
            Workload(w.name, w.clients, w.dim, w.degree, args.threshold)
            for w in args.workloads
        ]
    for w in args.workloads:
        problem = check_workload(w)
        if problem:
            p.error(f"workload {w.name}: {problem}")
    if not 0 <= args.dropout < 1:
        p.error("--dropout must be in [0, 1)")
    if args.keep_inputs and len(args.workloads) > 1:
        p.error("--keep-inputs takes one workload")
    return args


def check_workload(w: Workload) -> str | None:
    """The parameters both implementations accept."""
    if w.clients < 3 or w.dim < 1:
        return "needs at least 3 clients and d >= 1"
    if w.degree is not None and (w.degree % 2 or not 2 <= w.degree <= w.clients - 2):
        # secagg: an even degree (k-regular Harary graph); Flower: an odd num_shares
        # (it warns and silently uses num_shares + 1 for an even one).
        return "k must be even and 2 <= k <= n - 2 (use --complete for k = n - 1)"
    if not w.holders // 2 + 1 <= w.t < w.holders:
        # secagg: at least a majority of the H share holders; Flower: fewer than
        # num_shares, and more than 1 (an integer 1 means "all shares" to Flower).
        return f"t must satisfy floor(H/2) + 1 <= t < H = {w.holders}"
    return None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.no_venv:
        ensure_venv(argv)

    harness = None
    if args.only != "secagg":
        harness = FlowerHarness()
        # A tiny session first, so that one-time costs (library loading, OpenSSL and
        # thread-pool start-up) are not charged to the first measured clients.
        warm = Workload("warm-up", 5, 8, 2)
        warm_inputs, _ = make_inputs(warm, args.seed, 0.0)
        harness.run(warm, warm_inputs, [2], args.seed, label="Flower warm-up")
    if args.only != "flower" and not args.secagg.exists():
        raise SystemExit(
            f"{args.secagg} not found: build it with `cargo build --release --bin secagg`"
        )

    results = []
    for w in args.workloads:
        progress(f"workload {w.name}: {w.describe()}, generating inputs")
        inputs, dropped = make_inputs(w, args.seed, args.dropout)
        gone = set(dropped)
        survivors = [i for i in range(1, w.clients + 1) if i not in gone]
        expected = plain_sum(inputs, survivors)

        secagg = None
        if args.only != "flower":
            with tempfile.TemporaryDirectory(prefix="secagg-peers-") as tmp:
                path = args.keep_inputs or Path(tmp) / "inputs.txt"
                progress(f"writing {w.clients} x {w.dim} inputs to {path}")
                write_inputs(inputs, path)
                secagg = run_secagg(args.secagg, w, path, dropped, args.seed,
                                    expected, survivors, args.secagg_rayon_threads,
                                    args.suite)
        flower = harness.run(w, inputs, dropped, args.seed) if harness else None
        del inputs

        results.append({
            "workload": {
                "name": w.name, "clients": w.clients, "dim": w.dim, "degree": w.degree,
                "holders": w.holders, "threshold": w.t, "modulus": MODULUS,
                "dropout": args.dropout, "seed": args.seed,
            },
            "dropped": dropped,
            "dropped_at": "collect_masked_vectors / masked_input (secagg round 2)",
            "flower": flower,
            "secagg": secagg,
            "ratios": {
                "client": ratio(flower and flower["client_seconds"],
                                secagg and secagg["client_seconds"]),
                "server": ratio(flower and flower["server_seconds"],
                                secagg and secagg["server_seconds"]),
            },
            "published_flower": dict(zip(("client_seconds", "server_seconds"),
                                         PUBLISHED_FLOWER[w.name]))
            if w.name in PUBLISHED_FLOWER else None,
        })

    flwr_version = harness.version if harness else None
    if args.json:
        json.dump({
            "flwr_version": flwr_version,
            "secagg_binary": str(args.secagg),
            "secagg_rayon_threads": args.secagg_rayon_threads,
            "secagg_suite": args.suite,
            "results": results,
            "caveats": [
                PRG_CAVEAT,
                "Flower's float quantize/dequantize are replaced by an exact integer "
                "pass-through; all other SecAgg+ work is Flower's own code.",
            ],
        }, sys.stdout, indent=2)
        print()
    else:
        print_report(results, flwr_version)

    exact = all(
        side is None or side["sum_exact"]
        for r in results for side in (r["flower"], r["secagg"])
    )
    return 0 if exact else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
