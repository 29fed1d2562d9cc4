"""Secure-aggregation cost per round inside Flower 1.42: ours (secagg.flower) against
Flower's own SecAgg+, same app, same in-process deployment harness
(secagg.flower.testing.InProcessGrid: every Message and Context through protobuf, as a
SuperNode does), with a fraction of the clients dropping before their masked input.

    python examples/flower/speed.py --clients 100 --dim 100000 --dropout 0.1

Reported per implementation: the server's seconds (the fit workflow's wall time minus the
time spent inside the ClientApps and in the harness's protobuf round trips), a client's mean
seconds inside its ClientApp minus its local training, and the mean bytes a client sends
(protobuf-encoded replies) in the round. The model update is d float32 values.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

import numpy as np  # noqa: E402

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common import ndarrays_to_parameters  # noqa: E402
from flwr.server import ServerConfig  # noqa: E402
from flwr.server.compat.legacy_context import LegacyContext  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402

import secagg.flower as ours  # noqa: E402
from secagg.flower.testing import InProcessGrid  # noqa: E402

TRAINING: dict[int, float] = {}


class Client(NumPyClient):
    def __init__(self, pid: int, dim: int) -> None:
        self.pid, self.dim = pid, dim

    def fit(self, parameters, config):
        start = time.perf_counter()
        update = np.random.default_rng(self.pid).uniform(-1, 1, self.dim).astype(np.float32)
        TRAINING[self.pid] = TRAINING.get(self.pid, 0.0) + time.perf_counter() - start
        return [update], 10 + self.pid % 50, {}


def measure(which: str, n: int, dim: int, dropout: float, shares: int, threshold: int, seed: int) -> dict:
    if which == "ours":
        from secagg.flower import SecAggPlusWorkflow, secaggplus_mod
    else:
        from flwr.client.mod import secaggplus_mod
        from flwr.server.workflow import SecAggPlusWorkflow
    TRAINING.clear()

    def client_fn(context: Context):
        return Client(int(context.node_config["partition-id"]), dim).to_client()

    app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
    order = InProcessGrid(lambda m, c: None, n, seed=seed).node_ids
    gone = set(np.random.default_rng(seed).choice(order, size=int(round(dropout * n)), replace=False).tolist())
    # Flower's stages: 0 setup, 1 share keys, 2 collect masked vectors, 3 unmask.
    grid = InProcessGrid(app, n, seed=seed, drop=lambda stage, nid: stage == 2 and nid in gone)
    harness = {"s": 0.0}
    deliver = grid._deliver

    def timed_send(messages, *, timeout=None, _orig=grid.send_and_receive):
        start = time.perf_counter()
        before = sum(grid.client_seconds.values())
        replies = _orig(messages, timeout=timeout)
        harness["s"] += (time.perf_counter() - start) - (sum(grid.client_seconds.values()) - before)
        return replies

    grid.send_and_receive = timed_send
    del deliver
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                      initial_parameters=ndarrays_to_parameters([np.zeros(dim, dtype=np.float32)]))
    context = LegacyContext(
        context=Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=1), strategy=strategy)
    workflow = SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold)
    fit = {"s": 0.0}

    def timed_fit(grid_, ctx, _wf=workflow):
        start = time.perf_counter()
        _wf(grid_, ctx)
        fit["s"] += time.perf_counter() - start

    DefaultWorkflow(fit_workflow=timed_fit)(grid, context)
    client_total = sum(grid.client_seconds.values())
    training = sum(TRAINING.values())
    server = fit["s"] - client_total - harness["s"]
    survivors = [nid for nid in grid.node_ids if nid not in gone]
    return {
        "server_s": server,
        "client_s": (client_total - training) / n,
        "bytes_up": sum(grid.bytes_up[nid] for nid in survivors) / len(survivors),
        "ok": (which != "ours") or workflow.last_round.halted is None,
        "modulus_bits": workflow.last_round.modulus_bits if which == "ours" else 32,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--dim", type=int, default=100_000)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--num-shares", type=int, default=None, help="default: from secagg.find_params")
    ap.add_argument("--threshold", type=int, default=None)
    ap.add_argument("--which", choices=["ours", "flower", "both"], default="both")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    shares, t = a.num_shares, a.threshold
    if shares is None or t is None:
        import secagg
        found = secagg.find_params(a.clients, a.dropout, 0.05)
        k = found["neighbours"] or a.clients - 1
        shares = shares or k + 1
        t = t or found["threshold"]
    print(f"clients {a.clients}, d {a.dim}, dropout {a.dropout}, num_shares {shares}, threshold {t}")
    print("| implementation | server s | client s | bytes sent per client |")
    print("|---|---:|---:|---:|")
    rows = {}
    for which in (["ours", "flower"] if a.which == "both" else [a.which]):
        r = measure(which, a.clients, a.dim, a.dropout, shares, t, a.seed)
        rows[which] = r
        print(f"| {which} (modulus 2^{r['modulus_bits']}) | {r['server_s']:.3f} | {r['client_s']:.4f} "
              f"| {r['bytes_up']:.0f} |", flush=True)
    if len(rows) == 2:
        print(f"speed-up: server {rows['flower']['server_s'] / rows['ours']['server_s']:.1f}x, "
              f"client {rows['flower']['client_s'] / rows['ours']['client_s']:.1f}x; "
              f"bytes {rows['ours']['bytes_up'] / rows['flower']['bytes_up']:.2f} of Flower's")
    sys.exit(0 if all(r["ok"] for r in rows.values()) else 1)


if __name__ == "__main__":
    main()
