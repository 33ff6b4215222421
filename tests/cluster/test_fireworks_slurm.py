"""The FireWorks route for real: LaunchPad in MongoDB (SecantusDB), qlaunch in reservation mode with the
SLURM CommonAdapter on the local one-node cluster, outputs in the JobStore of the same server."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from cluster_helpers import assert_no_password, database_dump, files_text, phyneo

from phyneo_flows.cluster import cli as cluster_cli
from phyneo_flows.cluster.config import load_cluster_config
from phyneo_flows.cluster.fireworks_route import launchpad
from phyneo_flows.cluster.smallflow import small_flow
from phyneo_flows.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NASTY = "a b;touch pwned"


def _jobcomp() -> dict[str, str]:
    """Slurm's own record of finished jobs (JobCompType=jobcomp/filetxt): {job id: state}."""
    path = Path("/var/log/slurm/jobcomp.log")
    text = path.read_text() if path.exists() else ""
    return dict(re.findall(r"JobId=(\d+) .*?JobState=(\S+)", text))


def _config(tmp_path: Path, partition: str, tag: str) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "route": "fireworks",
                "partition": partition,
                "workers": 2,
                "work_dir": str(tmp_path / f"w {NASTY}"),
                "launchpad": {"database": f"lp_{tag}"},
                "jobstore_database": f"js_{tag}",
                "resources": {"default": {"cpus": 1, "memory_mb": 300, "walltime": "00:10:00"}},
            }
        )
    )
    return path


def test_small_flow_runs_each_job_once_as_its_own_slurm_job(slurm, mongo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHYNEO_MONGO_URI", mongo)
    monkeypatch.chdir(tmp_path)
    cfg = load_cluster_config(_config(tmp_path, slurm, "fw1"))
    label = f"{NASTY} $(touch pwned2)"  # job names reach #SBATCH lines: they must stay inert
    flow = small_flow(label, branches=2)
    states = cluster_cli.submit_flow(flow, cfg, wait=True, timeout=240)
    out = capsys.readouterr()
    assert sorted(states.values()) == ["COMPLETED"] * 4

    settings = Settings(mongo_uri=mongo)
    from phyneo_flows.cluster.fireworks_route import jobstore_settings
    from phyneo_flows.store import connected, get_store

    store = connected(get_store(jobstore_settings(cfg, settings)))
    docs = list(store.query({}, properties=["uuid", "index", "name", "output"]))
    assert sorted((d["uuid"], d["index"]) for d in docs) == sorted((j.uuid, 1) for j in flow.jobs)
    total = next(d for d in docs if d["name"].endswith("total"))
    assert total["output"]["value"] == pytest.approx(1.5 * (1 + 2))
    slurm_ids = [d["output"]["slurm_job_id"] for d in docs]
    assert None not in slurm_ids and len(set(slurm_ids)) == 4  # each job in its own Slurm job

    lp = launchpad(cfg, settings)
    launches = list(lp.launches.find({}, {"fw_id": 1, "state_history": 1}))
    assert sorted(la["fw_id"] for la in launches) == sorted(states)  # exactly one launch per firework
    reserved = [h["reservation_id"] for la in launches for h in la["state_history"] if "reservation_id" in h]
    assert sorted(map(str, reserved)) == sorted(slurm_ids)  # and it ran in the Slurm job reserved for it
    for _ in range(60):  # the last Slurm job ends a moment after its firework is marked COMPLETED
        comp = _jobcomp()
        if all(i in comp for i in slurm_ids):
            break
        time.sleep(0.5)
    assert all(comp.get(i) == "COMPLETED" for i in slurm_ids), comp

    assert not list(tmp_path.rglob("pwned*")) and not Path("pwned").exists() and not Path("pwned2").exists()
    assert_no_password(out.out + out.err, "the submit output")
    assert_no_password(files_text(tmp_path), "launch folders, Slurm scripts and logs")
    assert_no_password(database_dump(mongo, ["lp_fw1", "js_fw1"]), "the LaunchPad and JobStore documents")


def test_refuses_a_launchpad_without_a_database(tmp_path):
    from phyneo_flows.errors import StoreError

    cfg = load_cluster_config(_config(tmp_path, "debug", "none"))
    with pytest.raises(StoreError, match="MongoDB"):
        launchpad(cfg, Settings())


@pytest.mark.slow
def test_submit_formulation_box_flow_through_slurm(slurm, mongo, tmp_path):
    """``phyneo submit`` of a formulation at a nasty path: the box job runs on Slurm; query finds it."""
    folder = tmp_path / NASTY
    folder.mkdir()
    formulation = folder / "dmc.yaml"
    formulation.write_text((ROOT / "workflows" / "dmc.yaml").read_text())
    config = _config(tmp_path, slurm, "fw2")
    env = {
        **os.environ,
        "PHYNEO_MONGO_URI": mongo,
        "PHYNEO_DATA_DIR": str(tmp_path / "data"),
        "PHYNEO_DATABASE_NAME": "js_fw2",
    }
    code = (
        "import sys, typer; from phyneo_flows.cluster.cli import submit; app = typer.Typer(); "
        "app.command()(submit); app.command('x')(lambda: None); app(sys.argv[1:])"
    )
    import subprocess
    import sys

    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "submit",
            str(formulation),
            "--to",
            "fireworks",
            "--config",
            str(config),
            "--wait",
            "--timeout",
            "300",
            "--until",
            "box",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=400,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    queried = phyneo("query", "--formulation", "dmc", "--json", env=env)
    records = json.loads(queried.stdout)
    assert [r["output"]["stage"] for r in records] == ["box"]
    assert not list(tmp_path.rglob("pwned*"))
    assert_no_password(ran.stdout + ran.stderr + queried.stdout + queried.stderr, "the outputs")
    assert_no_password(files_text(tmp_path), "the files written")
