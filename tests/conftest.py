"""Every test gets its own data directory (embedded database) and fresh settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from phyneo_flows.settings import get_settings


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    data = tmp_path_factory.mktemp("phyneo-data")
    monkeypatch.setenv("PHYNEO_DATA_DIR", str(data))
    monkeypatch.delenv("PHYNEO_MONGO_URI", raising=False)
    monkeypatch.delenv("PHYNEO_CONFIG", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


ROOT = Path(__file__).resolve().parent.parent


def run_phyneo(*args: str, data_dir, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``phyneo ARGS`` in a new process against the embedded database in ``data_dir``."""
    env = os.environ | {"PHYNEO_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "phyneo_flows.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def phyneo(isolated_data_dir):
    """``phyneo(*args, check=True)``: the CLI in a new process, sharing this test's database."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_phyneo(*args, data_dir=isolated_data_dir, check=check)

    return run
