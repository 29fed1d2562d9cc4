"""A 5-client smoke run of secagg.flower in Flower's simulation engine (Ray): each ClientApp
call runs in a Ray worker process, so the client's session survives between messages only
through the sealed state in its Context. Checks the aggregate against plain FedAvg.

    pip install "flwr[simulation]==1.42.0" && python examples/flower/simulation_smoke.py
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Every Ray worker finds the same sealing key (see secagg.flower._keys).
os.environ.setdefault("FLWR_HOME", tempfile.mkdtemp(prefix="secagg-sim-"))

import numpy as np  # noqa: E402

import flwr.compat.common.recorddict_compat as compat  # noqa: E402
from flwr.app import Context  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import ServerApp, ServerConfig  # noqa: E402
from flwr.server.compat.legacy_context import LegacyContext  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

from secagg.flower import SecAggPlusWorkflow, secaggplus_mod  # noqa: E402

N, D = 5, 1000
RESULT: dict = {}


def update(pid: int) -> tuple[np.ndarray, int]:
    return np.random.default_rng(pid).uniform(-1, 1, D).astype(np.float32), 10 + 5 * pid


class Client(NumPyClient):
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def fit(self, parameters, config):
        x, n = update(self.pid)
        return [x], n, {}


def client_fn(context: Context):
    return Client(int(context.node_config["partition-id"])).to_client()


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
server_app = ServerApp()


@server_app.main()
def main(grid, context: Context) -> None:
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=N, min_available_clients=N,
                      initial_parameters=ndarrays_to_parameters([np.zeros(D, dtype=np.float32)]))
    context = LegacyContext(context=context, config=ServerConfig(num_rounds=1), strategy=strategy)
    workflow = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    DefaultWorkflow(fit_workflow=workflow)(grid, context)
    params = compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    RESULT["params"] = parameters_to_ndarrays(params)[0]
    RESULT["report"] = workflow.last_round


if __name__ == "__main__":
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=N,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    report = RESULT.get("report")
    if report is None or "params" not in RESULT:
        print("FAIL: the ServerApp did not finish")
        sys.exit(1)
    ups = [update(p) for p in range(N)]
    want = sum(x.astype(np.float64) * n for x, n in ups) / sum(n for _, n in ups)
    err = float(np.max(np.abs(RESULT["params"] - want)))
    print(f"included {len(report.included)} of {N}, halted {report.halted}, max error {err:.3g}")
    sys.exit(0 if report.halted is None and len(report.included) == N and err < 1e-3 else 1)
