"""Secure-aggregation cost per round inside Flower 1.42: ours (secagg.flower) against
Flower's own SecAgg+, same app, same in-process deployment harness
(secagg.flower.testing.InProcessGrid: every Message and Context through protobuf, as a
SuperNode does), with a fraction of the clients dropping before their masked input.

    python examples/flower/speed.py --clients 100 --dim 100000 --dropout 0.1

Reported per implementation, each as wall-clock seconds and as CPU seconds (this process,
all its threads: ``time.process_time``; the machine may be shared, so CPU time is the steadier
figure): the server's (the fit workflow's time minus the time spent inside the ClientApps and
in the harness's protobuf round trips), a client's mean time inside its ClientApp minus its
local training, and the mean bytes a client sends (protobuf-encoded replies) in the round.
The model update is d float32 values. The load average before and after is printed.
``--which plain`` runs FedAvg without secure aggregation: the cost of Flower's own message
and NumPyClient plumbing alone, a floor under both implementations.
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

# Local training time per partition: (wall, CPU) seconds.
TRAINING: dict[int, tuple[float, float]] = {}


class Client(NumPyClient):
    def __init__(self, pid: int, dim: int) -> None:
        self.pid, self.dim = pid, dim

    def fit(self, parameters, config):
        start, cpu = time.perf_counter(), time.process_time()
        update = np.random.default_rng(self.pid).uniform(-1, 1, self.dim).astype(np.float32)
        wall0, cpu0 = TRAINING.get(self.pid, (0.0, 0.0))
        TRAINING[self.pid] = (wall0 + time.perf_counter() - start, cpu0 + time.process_time() - cpu)
        return [update], 10 + self.pid % 50, {}


def measure(which: str, n: int, dim: int, dropout: float, shares: int, threshold: int, seed: int,
            mask_suite: str = "chacha20") -> dict:
    if which == "ours":
        from secagg.flower import SecAggPlusWorkflow, secaggplus_mod
    elif which == "flower":
        from flwr.client.mod import secaggplus_mod
        from flwr.server.workflow import SecAggPlusWorkflow
    else:
        # "plain": FedAvg without secure aggregation, the floor of Flower's own plumbing
        # (one message per client carrying the model both ways; no dropout).
        secaggplus_mod = None
    TRAINING.clear()

    def client_fn(context: Context):
        return Client(int(context.node_config["partition-id"]), dim).to_client()

    app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod] if secaggplus_mod else [])
    order = InProcessGrid(lambda m, c: None, n, seed=seed).node_ids
    gone = set(np.random.default_rng(seed).choice(order, size=int(round(dropout * n)), replace=False).tolist())
    # Flower's stages: 0 setup, 1 share keys, 2 collect masked vectors, 3 unmask.
    grid = InProcessGrid(app, n, seed=seed, drop=lambda stage, nid: stage == 2 and nid in gone)
    harness = {"s": 0.0, "cpu": 0.0}

    def timed_send(messages, *, timeout=None, _orig=grid.send_and_receive):
        start, cpu = time.perf_counter(), time.process_time()
        before = sum(grid.client_seconds.values()), sum(grid.client_cpu_seconds.values())
        replies = _orig(messages, timeout=timeout)
        harness["s"] += (time.perf_counter() - start) - (sum(grid.client_seconds.values()) - before[0])
        harness["cpu"] += (time.process_time() - cpu) - (sum(grid.client_cpu_seconds.values()) - before[1])
        return replies

    grid.send_and_receive = timed_send
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                      initial_parameters=ndarrays_to_parameters([np.zeros(dim, dtype=np.float32)]))
    context = LegacyContext(
        context=Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=1), strategy=strategy)
    extras = {"mask_suite": mask_suite} if which == "ours" else {}
    if which == "plain":
        from flwr.server.workflow.default_workflows import default_fit_workflow
        workflow = default_fit_workflow
    else:
        workflow = SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold, **extras)
    fit = {"s": 0.0, "cpu": 0.0}

    def timed_fit(grid_, ctx, _wf=workflow):
        start, cpu = time.perf_counter(), time.process_time()
        _wf(grid_, ctx)
        fit["s"] += time.perf_counter() - start
        fit["cpu"] += time.process_time() - cpu

    DefaultWorkflow(fit_workflow=timed_fit)(grid, context)
    client_total = sum(grid.client_seconds.values())
    client_cpu = sum(grid.client_cpu_seconds.values())
    training = sum(w for w, _ in TRAINING.values())
    training_cpu = sum(c for _, c in TRAINING.values())
    survivors = [nid for nid in grid.node_ids if nid not in gone]
    return {
        "server_s": fit["s"] - client_total - harness["s"],
        "server_cpu": fit["cpu"] - client_cpu - harness["cpu"],
        "client_s": (client_total - training) / n,
        "client_cpu": (client_cpu - training_cpu) / n,
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
    ap.add_argument("--which", choices=["ours", "flower", "both", "plain"], default="both",
                    help="plain: FedAvg without secure aggregation (Flower's own cost per client)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mask-suite", choices=["chacha20", "aes128ctr"], default="chacha20",
                    help="ours: the mask expansion cipher")
    a = ap.parse_args()
    shares, t = a.num_shares, a.threshold
    if shares is None or t is None:
        import secagg
        found = secagg.find_params(a.clients, a.dropout, 0.05)
        k = found["neighbours"] or a.clients - 1
        shares = shares or k + 1
        t = t or found["threshold"]
    print(f"clients {a.clients}, d {a.dim}, dropout {a.dropout}, num_shares {shares}, threshold {t}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| implementation | server s (wall) | server s (CPU) | client s (wall) | client s (CPU) "
          "| bytes sent per client |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {}
    for which in (["ours", "flower"] if a.which == "both" else [a.which]):
        r = measure(which, a.clients, a.dim, a.dropout, shares, t, a.seed, a.mask_suite)
        rows[which] = r
        name = f"{which} (modulus 2^{r['modulus_bits']}" + (f", {a.mask_suite})" if which == "ours" else ")")
        if which == "plain":
            name = "plain FedAvg, no secure aggregation"
        print(f"| {name} | {r['server_s']:.3f} | {r['server_cpu']:.3f} | {r['client_s']:.4f} "
              f"| {r['client_cpu']:.4f} | {r['bytes_up']:.0f} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if len(rows) == 2:
        o, f = rows["ours"], rows["flower"]
        print(f"speed-up: server {f['server_s'] / o['server_s']:.1f}x wall, {f['server_cpu'] / o['server_cpu']:.1f}x CPU; "
              f"client {f['client_s'] / o['client_s']:.1f}x wall, {f['client_cpu'] / o['client_cpu']:.1f}x CPU; "
              f"bytes {o['bytes_up'] / f['bytes_up']:.2f} of Flower's")
    sys.exit(0 if all(r["ok"] for r in rows.values()) else 1)


if __name__ == "__main__":
    main()
