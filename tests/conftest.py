"""Every test gets its own data directory (embedded database) and fresh settings."""

from __future__ import annotations

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
