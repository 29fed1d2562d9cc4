"""The Ray smoke run of test_engines.py, run in a subprocess of its own (a hard time bound,
and Ray never starts inside the pytest process):

    python sim_app.py OUT_DIR

Five virtual SuperNodes in Flower's simulation engine, each ClientApp call in a Ray worker
process; partition 4's training raises, so it drops out after sending its key shares and
the others' aggregate must still be right. Writes OUT_DIR/result.json and OUT_DIR/aggregate.npy.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

import flwr.compat.common.recorddict_compat as compat
from flwr.app import Context
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerApp, ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

from secagg.flower import SecAggPlusWorkflow, secaggplus_mod

N, DIM, FAILING = 5, 1000, 4
RESULT: dict = {}


def update(partition: int) -> tuple[np.ndarray, int]:
    """Partition `partition`'s update and example count (the test recomputes them)."""
    rng = np.random.default_rng(partition)
    return rng.uniform(-1, 1, DIM).astype(np.float32), 10 + 5 * partition


class Client(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition

    def fit(self, parameters, config):
        if self.partition == FAILING:
            raise RuntimeError("training failed (on purpose)")
        x, n = update(self.partition)
        return [x], n, {"partition": self.partition, "pid": os.getpid()}


def client_fn(context: Context):
    return Client(int(context.node_config["partition-id"])).to_client()


def fit_metrics(results):
    """Who was aggregated, and in which process each ran (what the server learns)."""
    RESULT["partitions"] = sorted(int(m["partition"]) for _, m in results)
    RESULT["worker_pids"] = sorted({int(m["pid"]) for _, m in results})
    return {}


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
server_app = ServerApp()


@server_app.main()
def main(grid, context: Context) -> None:
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=N, min_available_clients=N,
                      initial_parameters=ndarrays_to_parameters([np.zeros(DIM, dtype=np.float32)]),
                      fit_metrics_aggregation_fn=fit_metrics)
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=1), strategy=strategy)
    workflow = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2, timeout=120.0)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    params = compat.arrayrecord_to_parameters(legacy.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    RESULT["aggregate"] = parameters_to_ndarrays(params)[0]
    report = workflow.last_round
    RESULT.update(sampled=len(report.sampled), included=len(report.included), halted=report.halted,
                  failures=report.failures, max_weight=workflow.max_weight,
                  step=2 * workflow.clipping_range / (workflow.quantization_range - 1))


def run(out: Path) -> None:
    from flwr.simulation import run_simulation  # noqa: PLC0415

    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=N,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    if "aggregate" in RESULT:
        np.save(out / "aggregate.npy", RESULT.pop("aggregate"))
    RESULT["driver_pid"] = os.getpid()
    (out / "result.json").write_text(json.dumps(RESULT))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
