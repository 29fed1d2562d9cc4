"""ServerApp: FedAvg under secagg.flower's SecAggPlusWorkflow; prints the aggregate's error
against plain FedAvg of the included clients."""

from logging import INFO

import numpy as np
import flwr.compat.common.recorddict_compat as compat
from flwr.app import Context
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.logger import log
from flwr.server import ServerApp, ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

from secagg.flower import SecAggPlusWorkflow

app = ServerApp()


@app.main()
def main(grid, context: Context) -> None:
    n, dim = int(context.run_config["num-clients"]), int(context.run_config["dim"])
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                      initial_parameters=ndarrays_to_parameters([np.zeros(dim, dtype=np.float32)]))
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=int(context.run_config["num-server-rounds"])),
                           strategy=strategy)
    workflow = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2,
                                  timeout=float(context.run_config["timeout"]))
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    report = workflow.last_round
    params = compat.arrayrecord_to_parameters(legacy.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    got = parameters_to_ndarrays(params)[0].astype(np.float64)
    log(INFO, "SECAGG-SMOKE sampled=%s included=%s halted=%s", len(report.sampled), len(report.included),
        report.halted)
    if report.included:
        # Which partitions are in: the ServerApp knows node ids only; the partitions are
        # recovered by trying every subset of the right size (n is small).
        from itertools import combinations
        ups = {p: (np.random.default_rng(p).uniform(-1, 1, dim).astype(np.float64), 10 + 5 * p) for p in range(n)}
        best = min(
            float(np.max(np.abs(got - sum(ups[p][0] * ups[p][1] for p in s) / sum(ups[p][1] for p in s))))
            for s in combinations(range(n), len(report.included))
        )
        log(INFO, "SECAGG-SMOKE max_error=%.3g", best)
