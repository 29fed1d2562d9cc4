"""Federated logistic regression on the Breast Cancer Wisconsin data set (data/, shipped) in
Flower 1.42, one run under Flower's own SecAgg+ and one under secagg.flower, same app, same
data split, in the in-process deployment harness (secagg.flower.testing.InProcessGrid).
Prints the test accuracy per round and the secure-aggregation seconds per round of each.

    python examples/flower/logistic.py --clients 10 --rounds 10
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

import numpy as np  # noqa: E402

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import ServerConfig  # noqa: E402
from flwr.server.compat.legacy_context import LegacyContext  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402

from secagg.flower.testing import InProcessGrid  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data" / "breast_cancer_wisconsin.csv"


def load(seed: int = 0):
    rows = np.loadtxt(DATA, delimiter=",", skiprows=1)
    x, y = rows[:, :-1], rows[:, -1]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:114], order[114:]
    return x[train], y[train], x[test], y[test]


def predict(params, x):
    w, b = params
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


class Client(NumPyClient):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def fit(self, parameters, config):
        w, b = (np.asarray(p, dtype=np.float64) for p in parameters)
        for _ in range(5):  # local epochs of full-batch gradient descent
            err = predict((w, b), self.x) - self.y
            w -= 0.5 * self.x.T @ err / len(self.y)
            b -= 0.5 * err.mean()
        return [w.astype(np.float32), np.atleast_1d(b).astype(np.float32)], len(self.y), {}


def run(which: str, clients: int, rounds: int):
    if which == "ours":
        from secagg.flower import SecAggPlusWorkflow, secaggplus_mod
    else:
        from flwr.client.mod import secaggplus_mod
        from flwr.server.workflow import SecAggPlusWorkflow
    xtr, ytr, xte, yte = load()
    parts = np.array_split(np.arange(len(ytr)), clients)

    def client_fn(context: Context):
        idx = parts[int(context.node_config["partition-id"])]
        return Client(xtr[idx], ytr[idx]).to_client()

    accuracy: dict[int, float] = {}

    def evaluate(rnd, parameters, config):
        p = predict([np.asarray(a, dtype=np.float64) for a in parameters], xte)
        accuracy[rnd] = float(np.mean((p > 0.5) == yte))
        return 0.0, {"accuracy": accuracy[rnd]}

    grid = InProcessGrid(ClientApp(client_fn=client_fn, mods=[secaggplus_mod]), clients, seed=1)
    init = [np.zeros(xtr.shape[1], dtype=np.float32), np.zeros(1, dtype=np.float32)]
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=clients,
                      min_available_clients=clients, evaluate_fn=evaluate,
                      initial_parameters=ndarrays_to_parameters(init))
    context = LegacyContext(
        context=Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=rounds), strategy=strategy)
    workflow = SecAggPlusWorkflow(num_shares=5, reconstruction_threshold=3)
    seconds: list[float] = []

    def timed(grid_, ctx):
        # The whole fit round in this one process: server, every client (local training is
        # about a millisecond here, so this is secure aggregation) and the protobuf trips.
        start = time.perf_counter()
        workflow(grid_, ctx)
        seconds.append(time.perf_counter() - start)

    DefaultWorkflow(fit_workflow=timed)(grid, context)
    return accuracy, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    results = {w: run(w, a.clients, a.rounds) for w in ("flower", "ours")}
    print(f"{a.clients} clients, {a.rounds} rounds, num_shares 5, threshold 3")
    print("| round | accuracy, Flower SecAgg+ | accuracy, secagg.flower | fit round s, Flower | fit round s, ours |")
    print("|---:|---:|---:|---:|---:|")
    for r in range(1, a.rounds + 1):
        (fa, fs), (oa, os_) = results["flower"], results["ours"]
        print(f"| {r} | {fa[r]:.4f} | {oa[r]:.4f} | {fs[r - 1]:.3f} | {os_[r - 1]:.3f} |")


if __name__ == "__main__":
    main()
