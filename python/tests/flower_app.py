"""A small Flower app for the tests: each client's "training" returns a fixed update of its
own (from its partition id) and its example count; the server runs FedAvg."""

from __future__ import annotations

import numpy as np

from flwr.app import Context
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters
from flwr.server import ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow

from secagg.flower.testing import InProcessGrid

SHAPES = [(3, 4), (5,)]


def client_update(pid: int, round_: int = 1) -> tuple[list[np.ndarray], int]:
    rng = np.random.default_rng(1000 * round_ + pid)
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]
    return arrays, 10 + 7 * pid


class Client(NumPyClient):
    def __init__(self, pid: int, poison=None):
        self.pid = pid
        self.poison = poison

    def fit(self, parameters, config):
        arrays, n = client_update(self.pid)
        if self.poison is not None and self.pid in self.poison:
            arrays[0] = arrays[0].copy()
            arrays[0][0, 0] = np.nan
        return arrays, n, {"pid": self.pid}


def client_app(mod, poison=None) -> ClientApp:
    def client_fn(context: Context):
        return Client(int(context.node_config["partition-id"]), poison).to_client()

    return ClientApp(client_fn=client_fn, mods=[mod])


def run(workflow, n, mod, *, drop=None, poison=None, rounds=1, seed=0, node_config=None):
    """Runs `rounds` rounds; returns (grid, final global arrays, context). `node_config(i)`
    adds entries to node i's config."""
    extra = node_config or (lambda i: {})
    grid = InProcessGrid(client_app(mod, poison), n, drop=drop, seed=seed,
                         node_config=lambda i: {"partition-id": i, "num-partitions": n, **extra(i)})
    init = [np.zeros(s, dtype=np.float32) for s in SHAPES]
    strategy = FedAvg(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
        initial_parameters=ndarrays_to_parameters(init),
    )
    ctx = Context(run_id=1, node_id=0, node_config={}, state=__import__("flwr.app", fromlist=["RecordDict"]).RecordDict(), run_config={})
    context = LegacyContext(context=ctx, config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, context)
    from flwr.common import parameters_to_ndarrays
    import flwr.compat.common.recorddict_compat as compat
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    params = compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)
    return grid, parameters_to_ndarrays(params), context


def fedavg(grid, node_ids) -> list[np.ndarray]:
    """Plain FedAvg of the given nodes' updates, in float64."""
    ups = [client_update(grid.partition[nid]) for nid in node_ids]
    total = sum(n for _, n in ups)
    return [sum(np.asarray(a[i], dtype=np.float64) * n for a, n in ups) / total for i in range(len(SHAPES))]
