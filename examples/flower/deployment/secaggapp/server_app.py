"""ServerApp: FedAvg under secagg.flower's SecAggPlusWorkflow. Logs one line
``SECAGG-SMOKE {json}`` with the outcome and the aggregate's error against plain FedAvg of
the included clients; with the run config ``out`` set, also writes that JSON and the
aggregate (``out``.npy) for a test to check."""

import json
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

from secaggapp.client_app import update

app = ServerApp()


@app.main()
def main(grid, context: Context) -> None:
    n, dim = int(context.run_config["num-clients"]), int(context.run_config["dim"])
    partitions: list[int] = []

    def fit_metrics(results):
        partitions.extend(sorted(int(m["partition"]) for _, m in results))
        return {}

    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                      initial_parameters=ndarrays_to_parameters([np.zeros(dim, dtype=np.float32)]),
                      fit_metrics_aggregation_fn=fit_metrics)
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=int(context.run_config["num-server-rounds"])),
                           strategy=strategy)
    directory = str(context.run_config.get("directory", ""))
    extras = {"threat_model": "malicious", "directory": directory} if directory else {}
    workflow = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2,
                                  timeout=float(context.run_config["timeout"]), **extras)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    report = workflow.last_round
    params = compat.arrayrecord_to_parameters(legacy.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    got = parameters_to_ndarrays(params)[0].astype(np.float64)
    outcome = {"sampled": len(report.sampled), "included": len(report.included), "partitions": partitions,
               "halted": report.halted, "failures": len(report.failures),
               "step": 2 * workflow.clipping_range / (workflow.quantization_range - 1),
               "max_weight": workflow.max_weight, "max_abs": float(np.max(np.abs(got))),
               "threat_model": report.threat_model, "roster": report.roster, "threshold": report.threshold}
    if partitions:
        ups = [update(p, dim) for p in partitions]
        want = sum(x.astype(np.float64) * w for x, w in ups) / sum(w for _, w in ups)
        outcome["max_error"] = float(np.max(np.abs(got - want)))
    log(INFO, "SECAGG-SMOKE %s", json.dumps(outcome))
    out = str(context.run_config.get("out", ""))
    if out:
        np.save(out + ".npy", got)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(outcome, f)
