"""The jobflow-remote route for real: queue and JobStore in MongoDB (SecantusDB), a local worker on the
one-node Slurm cluster through qtoolkit, `jf runner start` ... `jf runner shutdown --wait`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from cluster_helpers import assert_no_password, database_dump, files_text

from phyneo_flows.cluster import cli as cluster_cli
from phyneo_flows.cluster.config import load_cluster_config
from phyneo_flows.cluster.fireworks_route import jobstore_settings
from phyneo_flows.cluster.jobflow_remote_route import projects_folder
from phyneo_flows.cluster.smallflow import small_flow
from phyneo_flows.settings import Settings
from phyneo_flows.store import connected, get_store


@pytest.mark.slow  # about 100 s: the runner daemon takes ~30 s to start and ~30 s to shut down
def test_small_flow_runs_each_job_once_through_jobflow_remote(slurm, mongo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHYNEO_MONGO_URI", mongo)
    path = tmp_path / "cluster.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "route": "jobflow-remote",
                "partition": slurm,
                "workers": 2,
                "work_dir": str(tmp_path / "work"),
                "queue_database": "jfr_queue",
                "jobstore_database": "jfr_js",
                "project": "phyneo_test",
                "resources": {"default": {"cpus": 1, "memory_mb": 300, "walltime": "00:10:00"}},
            }
        )
    )
    cfg = load_cluster_config(path)
    flow = small_flow("jfr", branches=2)
    states = cluster_cli.submit_flow(flow, cfg, wait=True, timeout=300)
    out = capsys.readouterr()
    assert sorted(states.values()) == ["COMPLETED"] * 4

    store = connected(get_store(jobstore_settings(cfg, Settings(mongo_uri=mongo))))
    docs = list(store.query({}, properties=["uuid", "index", "name", "output"]))
    assert sorted((d["uuid"], d["index"]) for d in docs) == sorted((j.uuid, 1) for j in flow.jobs)
    slurm_ids = [d["output"]["slurm_job_id"] for d in docs]
    assert None not in slurm_ids and len(set(slurm_ids)) == 4
    total = next(d for d in docs if d["name"].endswith("total"))
    assert total["output"]["value"] == pytest.approx(4.5)

    import pymongo

    jobs = list(pymongo.MongoClient(mongo).jfr_queue.jobs.find({}, {"uuid": 1, "remote": 1, "state": 1}))
    assert sorted(str(j["remote"]["process_id"]) for j in jobs) == sorted(slurm_ids)  # one Slurm job each

    project = projects_folder(cfg) / "phyneo_test.yaml"
    assert stat.S_IMODE(project.stat().st_mode) == 0o600  # the one file that must hold the URI
    assert_no_password(out.out + out.err, "the submit output")
    others = "\n".join(
        p.read_text(errors="replace") for p in Path(tmp_path).rglob("*") if p.is_file() and p != project
    )
    assert_no_password(others, "job folders, scripts and logs")
    assert_no_password(database_dump(mongo, ["jfr_queue", "jfr_js"]), "the queue and JobStore documents")
    assert files_text(tmp_path / "work" / "jfremote" / "jobs")  # the job folders were really written
