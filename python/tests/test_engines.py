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


# --- Deployment engine (SuperLink + SuperNodes on loopback) ----------------------------

DEPLOY_ENV = "SECAGG_TEST_DEPLOYMENT"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, ready, seconds: float, procs: list[subprocess.Popen]) -> None:
    """Polls `ready()` every 0.25 s, at most `seconds`; fails early if a child died."""
    for _ in range(int(seconds * 4)):
        if ready():
            return
        dead = [p.args[0] for p in procs if p.poll() is not None]
        if dead:
            pytest.fail(f"{dead} exited while waiting for {what}")
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.skipif(os.environ.get(DEPLOY_ENV) != "1",
                    reason=f"the deployment engine takes 1-2 minutes: set {DEPLOY_ENV}=1")
@pytest.mark.parametrize("stopped", [1, 2], ids=["one-node-stopped", "two-nodes-stopped"])
def test_deployment_engine_supernode_stopped_mid_round(tmp_path, stopped):
    """A SuperLink, three SuperNodes and `flwr run` of examples/flower/deployment; once
    training has begun on the last `stopped` nodes (after their key shares went out), they
    are stopped with SIGTERM. One stopped: the round completes with the two survivors and
    the aggregate is their FedAvg. Two stopped: one survivor is below the threshold (2), the
    round halts and the model stays as it was (zeros)."""
    assert DEPLOYMENT_APP.is_dir(), DEPLOYMENT_APP
    n, port, started = 3, free_port(), []
    logs = tmp_path / "logs"
    logs.mkdir()

    def spawn(name: str, args: list[str], cwd: Path = tmp_path) -> subprocess.Popen:
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        with open(logs / f"{name}.log", "w") as out:
            proc = subprocess.Popen(args, cwd=cwd, env=env_with(FLWR_HOME=str(home)), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc

    def log(name: str) -> str:
        return (logs / f"{name}.log").read_text(errors="replace")

    markers = {i: tmp_path / f"training-{i}" for i in range(n - stopped, n)}
    try:
        spawn("superlink", ["flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                            "--host", "127.0.0.1", "--port", str(port)])
        nodes = []
        for i in range(n):
            cfg = f"partition-id={i} num-partitions={n}"
            if i in markers:
                cfg += f" slow=120 marker='{markers[i]}'"
            nodes.append(spawn(f"node{i}", ["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{port}",
                                            "--port", str(free_port()), "--node-config", cfg]))
        wait_for("three active SuperNodes", lambda: log("superlink").count("Activated node_id") >= n, 120, started)
        app = tmp_path / "app"
        shutil.copytree(DEPLOYMENT_APP, app, ignore=shutil.ignore_patterns("smoke.sh", "__pycache__"))
        project = app / "pyproject.toml"
        project.write_text(project.read_text().replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
        out = tmp_path / "outcome.json"
        run = spawn("run", ["flwr", "run", ".", "local", "--stream", "--run-config", f"out='{out}'"], cwd=app)
        wait_for("training on the nodes to stop", lambda: all(m.exists() for m in markers.values()), 240,
                 [run, *started[:1]])
        for i in markers:
            stop(nodes[i])
        try:
            run.wait(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail("flwr run did not finish in 240 s after the nodes were stopped")
        assert out.exists(), log("run")[-3000:]
        outcome = json.loads(out.read_text())
    finally:
        for proc in reversed(started):
            stop(proc)
    aggregate = np.load(str(out) + ".npy")
    assert outcome["sampled"] == n and outcome["failures"] == stopped, outcome
    if stopped == 1:
        assert outcome["halted"] is None, outcome
        assert outcome["partitions"] == [0, 1], outcome
        sys.path.insert(0, str(DEPLOYMENT_APP))
        try:
            from secaggapp.client_app import update  # noqa: PLC0415
        finally:
            sys.path.remove(str(DEPLOYMENT_APP))
        updates = {p: update(p, aggregate.size) for p in range(n)}
        check_fedavg(aggregate, updates, [0, 1], outcome["step"], outcome["max_weight"])
    else:
        # Too few survivors: the round halts and the global model is unchanged.
        assert outcome["halted"] and "TooFewSurvivors" in outcome["halted"], outcome
        assert outcome["partitions"] == [] and not np.any(aggregate), outcome


@pytest.mark.skipif(os.environ.get(DEPLOY_ENV) != "1",
                    reason=f"the deployment engine takes 1-2 minutes: set {DEPLOY_ENV}=1")
def test_deployment_engine_malicious_server_mode(tmp_path):
    """The malicious-server mode on Flower's deployment engine: three SuperNodes, each with
    the directory and its own identity key in its node config (quoted paths, as Flower
    parses node config values as TOML), the ServerApp with its copy of the directory in the
    run config. The round (hello, setup, share keys, masked input, consistency check,
    unmask) completes and the aggregate is the FedAvg of all three."""
    from secagg.flower import Directory, generate_identity  # noqa: PLC0415

    n, port, started = 3, free_port(), []
    logs = tmp_path / "logs"
    logs.mkdir()
    keys = {f"node-{i}": generate_identity(tmp_path / f"node-{i}.key") for i in range(n)}
    directory = tmp_path / "directory.json"
    directory.write_text(Directory(keys).to_json())

    def spawn(name: str, args: list[str], cwd: Path = tmp_path) -> subprocess.Popen:
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        with open(logs / f"{name}.log", "w") as out:
            proc = subprocess.Popen(args, cwd=cwd, env=env_with(FLWR_HOME=str(home)), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc

    def log(name: str) -> str:
        return (logs / f"{name}.log").read_text(errors="replace")

    try:
        spawn("superlink", ["flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                            "--host", "127.0.0.1", "--port", str(port)])
        for i in range(n):
            cfg = (f'partition-id={i} num-partitions={n} secagg-directory-file="{directory}" '
                   f'secagg-identity-key-file="{tmp_path / f"node-{i}.key"}"')
            spawn(f"node{i}", ["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{port}",
                               "--port", str(free_port()), "--node-config", cfg])
        wait_for("three active SuperNodes", lambda: log("superlink").count("Activated node_id") >= n, 120, started)
        app = tmp_path / "app"
        shutil.copytree(DEPLOYMENT_APP, app, ignore=shutil.ignore_patterns("smoke.sh", "__pycache__"))
        project = app / "pyproject.toml"
        project.write_text(project.read_text().replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
        out = tmp_path / "outcome.json"
        run = spawn("run", ["flwr", "run", ".", "local", "--stream", "--run-config",
                            f"out='{out}' directory='{directory}'"], cwd=app)
        try:
            run.wait(timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail("flwr run did not finish in 300 s")
        assert out.exists(), log("run")[-3000:]
        outcome = json.loads(out.read_text())
    finally:
        for proc in reversed(started):
            stop(proc)
    assert outcome["threat_model"] == "malicious" and outcome["halted"] is None, outcome
    assert sorted(outcome["roster"]) == sorted(keys) and outcome["threshold"] == 3, outcome
    assert outcome["included"] == n and outcome["partitions"] == [0, 1, 2], outcome
    aggregate = np.load(str(out) + ".npy")
    sys.path.insert(0, str(DEPLOYMENT_APP))
    try:
        from secaggapp.client_app import update  # noqa: PLC0415
    finally:
        sys.path.remove(str(DEPLOYMENT_APP))
    updates = {p: update(p, aggregate.size) for p in range(n)}
    check_fedavg(aggregate, updates, [0, 1, 2], outcome["step"], outcome["max_weight"])
