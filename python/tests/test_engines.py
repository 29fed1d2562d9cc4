"""secagg.flower on Flower's own engines, in processes of their own: the simulation engine
(Ray workers) and the deployment engine (a SuperLink and SuperNodes on loopback).

Each run happens in child processes under a hard time bound, every one stopped by its PID
(its process group) at the end; the test reads what the ServerApp wrote and checks the
aggregate against plain FedAvg of the clients it included.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

HERE = Path(__file__).resolve().parent
DEPLOYMENT_APP = HERE.parents[1] / "examples" / "flower" / "deployment"
QUIET = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def env_with(**extra: str) -> dict[str, str]:
    env = {**os.environ, **QUIET, **extra}
    # The venv's bin/ first: the SuperLink starts `flower-superexec` by name.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Stops a child we started, and its process group (the processes it started)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)


def check_fedavg(aggregate: np.ndarray, updates: dict[int, tuple[np.ndarray, int]], included: list[int],
                 step: float, max_weight: float) -> None:
    """The aggregate equals FedAvg of `included` within the quantization error: each client
    encodes (w / max_weight) * update at `step`, so the weighted mean is off by at most
    n * step * max_weight / sum(w), plus float32 rounding."""
    weights = [updates[p][1] for p in included]
    want = sum(updates[p][0].astype(np.float64) * updates[p][1] for p in included) / sum(weights)
    bound = len(included) * step * max_weight / sum(weights) + 1e-6
    err = float(np.max(np.abs(aggregate.astype(np.float64) - want)))
    assert err <= bound, f"max error {err} above the quantization bound {bound}"
    # Not the mean of every client: the dropped one is really out.
    assert aggregate.shape == want.shape


# --- Simulation engine (Ray) -----------------------------------------------------------

def test_simulation_engine_five_clients_in_ray_workers(tmp_path):
    pytest.importorskip("ray", reason="needs flwr[simulation] (Ray)")
    import sim_app  # noqa: PLC0415

    proc = subprocess.Popen([sys.executable, str(HERE / "sim_app.py"), str(tmp_path)], cwd=HERE,
                            env=env_with(FLWR_HOME=str(tmp_path / "flwr-home")), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
        pytest.fail("the simulation did not finish in 300 s")
    finally:
        stop(proc)
    assert proc.returncode == 0, log[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["halted"] is None, result
    assert result["sampled"] == sim_app.N
    # Partition 4 raised in training, after its key shares went out: it is out, and its
    # masks were removed through the others' shares.
    assert result["partitions"] == [p for p in range(sim_app.N) if p != sim_app.FAILING]
    assert result["included"] == sim_app.N - 1
    assert len(result["failures"]) == 1 and "training failed" in result["failures"][0]
    # Every ClientApp call ran in a Ray worker, not in the driver.
    assert result["worker_pids"] and result["driver_pid"] not in result["worker_pids"]
    updates = {p: sim_app.update(p) for p in range(sim_app.N)}
    check_fedavg(np.load(tmp_path / "aggregate.npy"), updates, result["partitions"], result["step"],
                 result["max_weight"])
