"""The jobflow-remote route: a project generated from our cluster config (queue and JobStore in MongoDB, one
``local`` worker on Slurm through qtoolkit), ``jf runner start``, submit, wait, ``jf runner shutdown --wait``.

jobflow-remote runs each job in its own Slurm job with ``jf -fe execution run DIR``; the job writes its
output to files in DIR and the runner moves them into the JobStore, so the Slurm jobs never see the
database. The project file must hold the MongoDB URI (jobflow-remote reads no environment there): it is
written with mode 0600 in a 0700 folder under the work folder, and the URI is never printed.

jobflow-remote writes ``cd DIR`` and ``jf -fe execution run DIR`` into its scripts unquoted, so the work
folder must be a plain path (checked here), and job names go on ``#SBATCH`` lines, so they are reduced to
safe characters before submission.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jobflow import Flow

from phyneo_flows.cluster.config import ClusterConfig
from phyneo_flows.cluster.fireworks_route import jobstore_settings, slurm_job_name
from phyneo_flows.cluster.plan import job_stage
from phyneo_flows.errors import EngineError, InputError, StoreError
from phyneo_flows.settings import Settings

WORKER = "slurm"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
FINISHED = ("COMPLETED", "FAILED", "REMOTE_ERROR", "CANCELLED", "STOPPED", "USER_STOPPED")


def projects_folder(config: ClusterConfig) -> Path:
    """The private folder of the generated jobflow-remote project files (``JFREMOTE_PROJECTS_FOLDER``)."""
    path = config.work_path() / "jfremote-projects"
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return path


def jf_env(config: ClusterConfig) -> dict[str, str]:
    """The environment for ``jf`` commands: our projects folder and project, this venv first on PATH."""
    env = dict(os.environ)
    env["JFREMOTE_PROJECTS_FOLDER"] = str(projects_folder(config))
    env["JFREMOTE_PROJECT"] = config.project
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _daemon_dir(project_dir: Path) -> Path:
    """The runner daemon's folder: inside the project unless its socket path would be too long for a UNIX
    socket (jobflow-remote allows 97 characters), then a short private folder under the temp dir named by
    the project's path."""
    default = project_dir / "daemon"
    if len(str(default / "s.sock")) <= 90:  # jobflow-remote refuses socket paths over 97 characters
        return default
    short = Path(tempfile.gettempdir()) / f"phyneo-jfr-{hashlib.sha256(str(project_dir).encode()).hexdigest()[:12]}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short


def _qtoolkit_resources(config: ClusterConfig, stage: str | None) -> dict:
    out: dict = dict(config.resources_for(stage).slurm_options())
    if "walltime" in out:  # qtoolkit names it ``time``; the FireWorks adapter ``walltime``
        out["time"] = out.pop("walltime")
    if config.partition:
        out["partition"] = config.partition
    if config.account:
        out["account"] = config.account
    if config.qos:
        out["qos"] = config.qos
    return out


def project_dict(config: ClusterConfig, settings: Settings) -> dict:
    """The jobflow-remote project of ``config`` (holds the URI: never print it)."""
    uri = config.uri(settings)
    if not uri:
        raise StoreError(
            "jobflow-remote needs a MongoDB server for its queue",
            field="mongo_uri",
            fix="set PHYNEO_MONGO_URI=mongodb://host:27017 (or mongo_uri in the cluster config)",
        )
    base = config.work_path() / "jfremote"
    if not _SAFE_PATH.match(str(base)):
        raise InputError(
            f"work_dir {str(config.work_path())!r} has characters jobflow-remote would pass to the "
            "shell unquoted",
            field="work_dir",
            fix="use a path of letters, digits and _./+- only",
        )
    store_db = jobstore_settings(config, settings).database_name
    bin_dir = shlex.quote(str(Path(config.python or sys.executable).parent))
    pre = [f'export PATH={bin_dir}:"$PATH"', *config.pre_run]
    return {
        "name": config.project,
        "base_dir": str(base / "project"),
        "daemon_dir": str(_daemon_dir(base / "project")),
        "log_level": "warn",
        "runner": {
            "delay_checkout": 1,
            "delay_check_run_status": 2,
            "delay_advance_status": 1,
            "delay_refresh_limited": 2,
            "delay_update_batch": 2,
        },
        "workers": {
            WORKER: {
                "type": "local",
                "scheduler_type": "slurm",
                "work_dir": str(base / "jobs"),
                "resources": _qtoolkit_resources(config, None),
                "pre_run": "\n".join(pre),
                "max_jobs": config.workers,
            }
        },
        "queue": {
            "store": {
                "type": "MongoStore",
                "host": uri,
                "database": config.queue_database,
                "collection_name": "jobs",
            }
        },
        "jobstore": {
            "docs_store": {
                "type": "MongoStore",
                "host": uri,
                "database": store_db,
                "collection_name": "outputs",
            },
            "additional_stores": {
                "data": {"type": "GridFSStore", "host": uri, "database": store_db, "collection_name": "data"}
            },
        },
    }


def write_project(config: ClusterConfig, settings: Settings) -> Path:
    """Write the project file (mode 0600) and return its path."""
    path = projects_folder(config) / f"{config.project}.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(project_dict(config, settings), fh, sort_keys=False)
    path.chmod(0o600)
    return path


def _project(config: ClusterConfig, settings: Settings):
    """The jobflow-remote Project object (its module settings pointed at our projects folder)."""
    write_project(config, settings)
    os.environ["JFREMOTE_PROJECTS_FOLDER"] = str(projects_folder(config))
    import jobflow_remote
    from jobflow_remote.config import ConfigManager

    jobflow_remote.SETTINGS.projects_folder = str(projects_folder(config))
    return ConfigManager().get_project(config.project)


def add_flow(flow: Flow, config: ClusterConfig, settings: Settings) -> list[str]:
    """Queue ``flow`` (each job with its stage's resources); returns the jobflow-remote db ids."""
    project = _project(config, settings)
    for job, _parents in flow.iterflow():
        job.name = slurm_job_name(job.name)
        job.config.manager_config = {
            **(job.config.manager_config or {}),
            "resources": _qtoolkit_resources(config, job_stage(job)),
        }
    jc = project.get_job_controller()
    if jc.auxiliary.find_one({"next_id": {"$exists": True}}) is None:  # a new queue database
        jc.reset(reset_output=False, max_limit=0)
    return jc.add_flow(flow=flow, worker=WORKER)


def jf(config: ClusterConfig, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``jf -p PROJECT ARGS`` (a list, no shell) with our projects folder."""
    exe = Path(sys.executable).parent / "jf"
    cmd = [str(exe) if exe.exists() else "jf", "-p", config.project, *args]
    result = subprocess.run(cmd, env=jf_env(config), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise EngineError(
            f"`jf {' '.join(args)}` failed: {result.stderr.strip()[-500:]}",
            field="route",
            fix="see the runner log under the work folder's jfremote/project/log",
        )
    return result


def job_states(config: ClusterConfig, settings: Settings, flow: Flow) -> dict[str, str]:
    """``{job uuid: jobflow-remote state}`` of the jobs of ``flow``."""
    jc = _project(config, settings).get_job_controller()
    uuids = [j.uuid for j, _ in flow.iterflow()]
    return {info.uuid: info.state.name for info in jc.get_jobs_info(custom_query={"uuid": {"$in": uuids}})}


def run_until_done(
    config: ClusterConfig,
    settings: Settings,
    flow: Flow,
    timeout_s: float = 3600,
    poll_s: float = 2.0,
    log=print,
) -> dict[str, str]:
    """``jf runner start``, wait until every job of ``flow`` is finished, ``jf runner shutdown --wait``."""
    write_project(config, settings)
    jf(config, "runner", "start", "--single")
    log(f"jobflow-remote runner started (project {config.project})")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            states = job_states(config, settings, flow)
            if states and all(s in FINISHED for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise EngineError(
                    f"jobs not finished after {timeout_s:.0f} s: {states}",
                    field="timeout",
                    fix=f"check `squeue` and `jf -p {config.project} job list`",
                )
            time.sleep(poll_s)
    finally:
        jf(config, "runner", "shutdown", "--wait", timeout=300)
        log("jobflow-remote runner stopped")
