"""The type stubs (secagg/_native.pyi) agree with the native module: mypy's stubtest
imports secagg._native and compares every class, signature and constant with the stub."""

import subprocess
import sys

import pytest

pytest.importorskip("mypy", reason="needs mypy (stubtest)")


def test_stubs_match_the_native_module(tmp_path):
    env = {"MYPY_CACHE_DIR": str(tmp_path / "mypy-cache"), "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "secagg._native"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Success: no issues found" in proc.stdout
