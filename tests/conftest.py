"""Every test gets its own data directory (embedded database) and fresh settings."""

from __future__ import annotations

import subprocess

import pytest

from phyneo_flows.settings import get_settings
from phyneo_flows.testing import run_phyneo


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    data = tmp_path_factory.mktemp("phyneo-data")
    monkeypatch.setenv("PHYNEO_DATA_DIR", str(data))
    monkeypatch.delenv("PHYNEO_MONGO_URI", raising=False)
    monkeypatch.delenv("PHYNEO_CONFIG", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()



@pytest.fixture
def phyneo(isolated_data_dir):
    """``phyneo(*args, check=True)``: the CLI in a new process, sharing this test's database."""

    def run(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return run_phyneo(*args, data_dir=isolated_data_dir, check=check, timeout=timeout)

    return run
