"""ClientApp: a fixed update per partition, masked by secagg.flower's mod."""

import time
from pathlib import Path

import numpy as np
from flwr.app import Context
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp

from secagg.flower import secaggplus_mod


def update(partition: int, dim: int) -> tuple[np.ndarray, int]:
    """Partition `partition`'s update and example count (the server recomputes them)."""
    return np.random.default_rng(partition).uniform(-1, 1, dim).astype(np.float32), 10 + 5 * partition


class Client(NumPyClient):
    def __init__(self, partition: int, dim: int, slow: float, marker: str) -> None:
        self.partition, self.dim, self.slow, self.marker = partition, dim, slow, marker

    def fit(self, parameters, config):
        # Training has begun, after the key shares went out: a node that is stopped now
        # drops out mid-round. The marker file tells the smoke test when that is.
        if self.marker:
            Path(self.marker).touch()
        time.sleep(self.slow)
        x, n = update(self.partition, self.dim)
        return [x], n, {"partition": self.partition}


def client_fn(context: Context):
    cfg = context.node_config
    return Client(int(cfg["partition-id"]), int(context.run_config["dim"]), float(cfg.get("slow", 0.0)),
                  str(cfg.get("marker", ""))).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
