"""A one-node Slurm cluster and a MongoDB wire server (SecantusDB, with a password) for the cluster tests.

Both are started by the repository's own scripts and stopped at the end (Slurm only if the tests
started it). Tests that need them skip, saying why, when not root or when the programs are missing
(``bash scripts/setup-cluster.sh`` installs them).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_helpers():
    """``cluster_helpers.py`` beside this file, importable by the test modules under any import mode."""
    name = "cluster_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


PASSWORD, USER = _load_helpers().PASSWORD, _load_helpers().USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(
    name: str, *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def slurm():
    """A running one-node Slurm cluster (partition ``debug``)."""
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster needs root (scripts/slurm-local.sh)")
    if not (
        shutil.which("sbatch") and Path("/usr/sbin/slurmctld").exists() and Path("/usr/sbin/munged").exists()
    ):
        pytest.skip("slurm-wlm/munge not installed: run scripts/setup-cluster.sh (apt-get)")
    was_up = _script("slurm-local.sh", "status").returncode == 0
    started = _script("slurm-local.sh", "start")
    if started.returncode != 0:
        pytest.fail(f"scripts/slurm-local.sh start failed: {started.stderr}")
    yield "debug"
    if not was_up:
        _script("slurm-local.sh", "stop")


@pytest.fixture(scope="session")
def mongo(tmp_path_factory):
    """A SecantusDB server on 127.0.0.1 with authentication; yields the URI (user:password inside)."""
    if not (ROOT / ".venv-mongo" / "bin" / "secantusd-py").exists():
        pytest.skip("no .venv-mongo with SecantusDB: run scripts/setup-cluster.sh")
    port = _free_port()
    folder = tmp_path_factory.mktemp("mongo")
    env = {**os.environ, "MONGO_LOCAL_PASSWORD": PASSWORD}
    started = _script(
        "mongo-local.sh", "start", "--port", str(port), "--dir", str(folder), "--user", USER, env=env
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/mongo-local.sh start failed: {started.stderr}")
    assert PASSWORD not in started.stdout + started.stderr
    yield f"mongodb://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/?authSource=admin"
    _script("mongo-local.sh", "stop", "--dir", str(folder))
