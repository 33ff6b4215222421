"""The cluster config, the dry run and the Slurm script text: no scheduler or database needed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
from cluster_helpers import PASSWORD
from typer.testing import CliRunner

from phyneo_flows.cluster import cli as cluster_cli
from phyneo_flows.cluster.config import ClusterConfig, load_cluster_config
from phyneo_flows.cluster.fireworks_route import queue_adapter, slurm_job_name, to_workflow, worker_command
from phyneo_flows.cluster.jobflow_remote_route import project_dict
from phyneo_flows.cluster.smallflow import small_flow
from phyneo_flows.errors import InputError
from phyneo_flows.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
route: fireworks
partition: debug
workers: 3
resources:
  default: {cpus: 1, memory_mb: 1000, walltime: "01:00:00"}
  qm: {cpus: 32, memory_mb: 64000, walltime: "1-00:00:00"}
  md: {cpus: 4, gpus: 1}
  box: {cpus: 2, walltime: "00:20:00"}
"""


def _app() -> typer.Typer:
    """The commands as the main CLI registers them: ``phyneo submit`` and ``phyneo cluster ...``."""
    app = typer.Typer()
    app.command("submit")(cluster_cli.submit)
    app.add_typer(cluster_cli.app, name="cluster")
    return app


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(CONFIG + f"work_dir: {tmp_path / 'work'}\n")
    return path


def test_resources_by_stage_then_class_then_default(config_file):
    cfg = load_cluster_config(config_file)
    assert cfg.resources_for("box").cpus == 2
    assert cfg.resources_for("sapt").cpus == 32  # a QM stage without its own entry: the qm class
    assert cfg.resources_for("training").cpus == 1  # no training entry: default
    assert cfg.resources_for("md").slurm_options()["gres"] == "gpu:1"
    assert cfg.resources_for("qm").slurm_options() == {
        "nodes": 1,
        "ntasks": 1,
        "cpus_per_task": 32,
        "mem": "64000M",
        "walltime": "1-00:00:00",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"partition": "debug\n#SBATCH --wrap=id"},
        {"partition": "a;touch pwned"},
        {"resources": {"qm": {"walltime": "1:00:00; rm -rf ~"}}},
        {"resources": {"qm": {"gres": "gpu:1 $(id)"}}},
        {"resources": {"a b": {"cpus": 1}}},
        {"route": "ssh"},
        {"resources": {"qm": {"cpus": 0}}},
        {"pre_run": ["module load x\nrm -rf ~"]},
    ],
)
def test_values_that_reach_a_slurm_script_are_checked(tmp_path, bad):
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError):
        load_cluster_config(path)


def test_several_workers_on_a_mongomock_launchpad_are_refused_with_the_reason(tmp_path, config_file):
    path = tmp_path / "mock.yaml"
    path.write_text(f"launchpad: {{mongomock_file: {tmp_path / 'lp.json'}}}\nworkers: 1\n")
    assert load_cluster_config(path).workers == 1  # one worker is fine
    result = CliRunner().invoke(
        _app(),
        [
            "submit",
            str(ROOT / "workflows" / "dmc.yaml"),
            "--to",
            "fireworks",
            "--config",
            str(path),
            "--workers",
            "2",
            "--dry-run",
        ],
    )
    assert isinstance(result.exception, InputError)
    message = str(result.exception)
    assert "workers" in message and "rewrites the whole file" in message and "MongoDB" in message


def test_dry_run_lists_every_job_with_its_stage_resources(config_file, monkeypatch):
    monkeypatch.setenv("PHYNEO_MONGO_URI", f"mongodb://u:{PASSWORD}@db.example:27017/x")
    result = CliRunner().invoke(
        _app(),
        [
            "submit",
            str(ROOT / "workflows" / "lipf6_ec_dmc.yaml"),
            "--to",
            "jobflow-remote",
            "--config",
            str(config_file),
            "--dry-run",
            "--profile",
            "standard",
        ],
    )
    assert result.exit_code == 0, result.output
    from phyneo_flows.cluster.plan import formulation_flow

    flow = formulation_flow(ROOT / "workflows" / "lipf6_ec_dmc.yaml", "standard")
    for job, _ in flow.iterflow():
        stage = job.metadata["stage"]
        line = next(x for x in result.output.splitlines() if x.strip().startswith(job.name))
        described = load_cluster_config(config_file).resources_for(stage).describe()
        assert f"[stage {stage}]" in line and described in line
    assert "jobflow-remote" in result.output and "u:***@db.example" in result.output
    assert PASSWORD not in result.output
    assert not (config_file.parent / "work" / "fireworks").exists()  # nothing submitted


def test_small_flow_plan_gives_qm_and_md_jobs_their_own_resources(config_file, capsys):
    cfg = load_cluster_config(config_file)
    cluster_cli.print_plan(small_flow("s", 2), cfg)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 4
    assert any("s scale 1  [stage qm]  32 cpus, 64000 MiB, 1-00:00:00" in x for x in lines)
    assert any("s scale 2  [stage md]  4 cpus, 1 gpu" in x for x in lines)


def test_firework_specs_carry_resources_and_no_store(config_file):
    cfg = load_cluster_config(config_file)
    wf = to_workflow(small_flow("s", 2), cfg)
    by_name = {fw.name: fw for fw in wf.fws}
    assert by_name["s scale 1"].spec["_queueadapter"]["cpus_per_task"] == 32
    assert by_name["s scale 2"].spec["_queueadapter"]["gres"] == "gpu:1"
    assert all(fw.tasks[0]["store"] is None for fw in wf.fws)  # the URI never goes into the LaunchPad


def test_names_and_paths_in_the_slurm_script_are_inert(tmp_path):
    nasty = "a b;touch pwned $(touch pwned2)\n#SBATCH --wrap=id"
    assert slurm_job_name(nasty) == "a_b_touch_pwned_touch_pwned2_SBATCH_--wrap_id"
    cfg = ClusterConfig(
        work_dir=tmp_path / "w d;touch pwned", partition="debug", python="/opt/my python/bin/python"
    )
    config_path = cfg.work_path() / "cluster-config.yaml"
    command = worker_command(config_path, python=cfg.python)
    assert shlex.split(command) == [
        "/opt/my python/bin/python",
        "-m",
        "phyneo_flows.cluster.worker",
        "fireworks",
        "--config",
        str(config_path),
        "singleshot",
    ]
    qa = queue_adapter(cfg, config_path)
    qa.update({"job_name": slurm_job_name(nasty)})
    script = qa.get_script_str(str(cfg.work_path()))
    assert "cd " not in script  # the stock template's unquoted `cd $${launch_dir}` is gone
    body = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert body == [command]
    assert script.count("#SBATCH") == sum(1 for line in script.splitlines() if line.startswith("#SBATCH"))


def test_jobflow_remote_project_refuses_a_work_dir_it_would_not_quote(tmp_path):
    settings = Settings(mongo_uri="mongodb://127.0.0.1:1/")
    with pytest.raises(InputError, match="work_dir"):
        project_dict(ClusterConfig(work_dir=tmp_path / "a b;touch pwned"), settings)
    good = project_dict(ClusterConfig(work_dir=tmp_path / "w", partition="debug", workers=2), settings)
    worker = good["workers"]["slurm"]
    assert worker["type"] == "local" and worker["scheduler_type"] == "slurm" and worker["max_jobs"] == 2
    assert worker["resources"]["partition"] == "debug"
