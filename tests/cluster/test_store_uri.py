"""The JobStore by MongoDB URI on a real wire server: one process writes, another reads; the password of
the URI is never printed nor stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cluster_helpers import assert_no_password, database_dump, files_text, phyneo

ROOT = Path(__file__).resolve().parents[2]


def test_run_then_query_from_another_process_through_mongodb(mongo, isolated_data_dir, tmp_path):
    env = {**os.environ, "PHYNEO_MONGO_URI": mongo, "PHYNEO_DATABASE_NAME": "store_test"}
    ran = phyneo("run", str(ROOT / "workflows" / "dmc.yaml"), "--until", "box", env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    queried = phyneo("query", "--formulation", "dmc", "--json", env=env, cwd=tmp_path)
    assert queried.returncode == 0, queried.stderr
    records = json.loads(queried.stdout)
    assert [r["output"]["stage"] for r in records] == ["box"]
    assert records[0]["output"]["formulation"] == "dmc" and records[0]["name"] == "dmc box"
    status = phyneo("status", env=env, cwd=tmp_path)
    assert status.returncode == 0 and "phyneo:***@127.0.0.1" in status.stdout
    # the run is in MongoDB, not in the embedded database of this data directory
    assert not (isolated_data_dir / "db").exists()
    for name, proc in {"run": ran, "query": queried, "status": status}.items():
        assert_no_password(proc.stdout + proc.stderr, f"`phyneo {name}` output")
    assert_no_password(database_dump(mongo, ["store_test"]), "the stored documents")
    assert_no_password(files_text(isolated_data_dir) + files_text(tmp_path), "files written by the run")
