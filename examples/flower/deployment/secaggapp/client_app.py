"""ClientApp: a fixed update per partition, masked by secagg.flower's mod."""

import time

import numpy as np
from flwr.app import Context
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp

from secagg.flower import secaggplus_mod


class Client(NumPyClient):
    def __init__(self, pid: int, dim: int, slow: float) -> None:
        self.pid, self.dim, self.slow = pid, dim, slow

    def fit(self, parameters, config):
        # "Training" takes a few seconds so that a SuperNode can be killed mid-round.
        time.sleep(self.slow)
        x = np.random.default_rng(self.pid).uniform(-1, 1, self.dim).astype(np.float32)
        return [x], 10 + 5 * self.pid, {}


def client_fn(context: Context):
    return Client(int(context.node_config["partition-id"]), int(context.run_config["dim"]),
                  float(context.node_config.get("slow", 0.0))).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
