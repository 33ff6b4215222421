"""The FireWorks route: a jobflow Flow becomes a FireWorks Workflow on a LaunchPad in MongoDB; the queue
launcher (FireWorks' ``qlaunch`` in reservation mode) submits one Slurm job per firework through the
``CommonAdapter`` (``sbatch``); each Slurm job runs ``python -m phyneo_flows.cluster.worker fireworks``,
which runs exactly its reserved firework and writes the job's output to the JobStore.

Secrets: the MongoDB URI reaches the Slurm jobs only through the environment (``PHYNEO_MONGO_URI``, which
``sbatch`` exports); it is never written to a script, a file or a LaunchPad document (the fireworks carry
``store=None``, and the worker opens the JobStore from its settings).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

from jobflow import Flow

from phyneo_flows.cluster.config import ClusterConfig
from phyneo_flows.cluster.plan import job_stage
from phyneo_flows.errors import EngineError, StoreError
from phyneo_flows.settings import Settings

# Our own Slurm template: the CommonAdapter's stock one does `cd $${launch_dir}` unquoted. Here the job
# starts in the folder sbatch was called from (the launcher folder), and every substituted value has
# passed a strict pattern (config.py) or is a number.
SLURM_TEMPLATE = """#!/bin/bash
#SBATCH --job-name=$${job_name}
#SBATCH --nodes=$${nodes}
#SBATCH --ntasks=$${ntasks}
#SBATCH --cpus-per-task=$${cpus_per_task}
#SBATCH --gres=$${gres}
#SBATCH --mem=$${mem}
#SBATCH --time=$${walltime}
#SBATCH --partition=$${queue}
#SBATCH --account=$${account}
#SBATCH --qos=$${qos}
#SBATCH --output=slurm-%j.out
#SBATCH --error=slurm-%j.err

$${pre_rocket}
$${rocket_launch}
"""

FINISHED = ("COMPLETED", "FIZZLED", "DEFUSED")
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slurm_job_name(name: str) -> str:
    """A job name safe on an ``#SBATCH`` line: letters, digits and ``_.-`` only, at most 60 characters."""
    return _SLUG.sub("_", name).strip("_")[:60] or "phyneo"


def jobstore_settings(config: ClusterConfig, settings: Settings) -> Settings:
    """The settings the JobStore is opened with: the config's URI and database, if it names them."""
    update: dict = {}
    if config.mongo_uri is not None:
        update["mongo_uri"] = config.mongo_uri
    if config.jobstore_database:
        update["database_name"] = config.jobstore_database
    return settings.model_copy(update=update)


def launchpad(config: ClusterConfig, settings: Settings, strm_lvl: str = "WARNING"):
    """The FireWorks LaunchPad the config names (MongoDB by URI, or a file-backed mongomock)."""
    if config.launchpad.mongomock_file is not None:
        os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(config.launchpad.mongomock_file.expanduser().resolve())
    from fireworks import LaunchPad

    if config.launchpad.mongomock_file is not None:
        return LaunchPad(name=config.launchpad.database, strm_lvl=strm_lvl)
    uri = config.uri(settings)
    if not uri:
        raise StoreError(
            "the FireWorks route needs a MongoDB server for its LaunchPad",
            field="mongo_uri",
            fix="set PHYNEO_MONGO_URI=mongodb://host:27017 (or mongo_uri in the cluster config), "
            "or launchpad: {mongomock_file: PATH} for one worker",
        )
    return LaunchPad(
        host=uri,
        name=config.launchpad.database,
        uri_mode=True,
        strm_lvl=strm_lvl,
        mongoclient_kwargs={"serverSelectionTimeoutMS": 10_000},
    )


def to_workflow(flow: Flow, config: ClusterConfig):
    """The FireWorks Workflow of ``flow``: one firework per job, its Slurm resources in ``_queueadapter``."""
    from jobflow.managers.fireworks import flow_to_workflow

    wf = flow_to_workflow(flow, store=None)  # store=None: the worker's own JobStore, no URI in the LaunchPad
    for fw in wf.fws:
        job = fw.tasks[0]["job"]
        queue = config.resources_for(job_stage(job)).slurm_options()
        queue["job_name"] = slurm_job_name(job.name)
        fw.spec["_queueadapter"] = queue
    return wf


def worker_command(config_file: Path, python: str | None = None) -> str:
    """The shell line a Slurm job runs (FireWorks appends ``--fw_id N``); every word is quoted."""
    exe = python or sys.executable
    return " ".join(
        shlex.quote(w)
        for w in (
            exe,
            "-m",
            "phyneo_flows.cluster.worker",
            "fireworks",
            "--config",
            str(config_file),
            "singleshot",
        )
    )


def queue_adapter(config: ClusterConfig, config_file: Path):
    """FireWorks' ``CommonAdapter`` for Slurm with our template and worker command."""
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    template = config.work_path() / "fireworks_slurm_template.txt"
    template.write_text(SLURM_TEMPLATE)
    kwargs: dict = {"rocket_launch": worker_command(config_file, config.python)}
    if config.partition:
        kwargs["queue"] = config.partition
    if config.account:
        kwargs["account"] = config.account
    if config.qos:
        kwargs["qos"] = config.qos
    if config.pre_run:
        kwargs["pre_rocket"] = "\n".join(config.pre_run)
    kwargs.update(config.resources_for(None).slurm_options())
    return CommonAdapter(q_type="SLURM", q_name="phyneo", template_file=str(template), **kwargs)


def write_worker_config(config: ClusterConfig) -> Path:
    """The config the workers read, in the work folder, without the MongoDB URI (that travels in the env)."""
    path = config.work_path() / "cluster-config.yaml"
    data = config.model_dump(mode="json", exclude={"mongo_uri"}, exclude_none=True)
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def add_flow(flow: Flow, config: ClusterConfig, settings: Settings) -> list[int]:
    """Put ``flow`` on the LaunchPad; returns the firework ids."""
    lp = launchpad(config, settings)
    if lp.fw_id_assigner.count_documents({}) == 0 and lp.fireworks.count_documents({}) == 0:
        lp.reset("", require_password=False)  # a new, empty LaunchPad: create its id counters and indexes
    wf = to_workflow(flow, config)
    id_map = lp.add_wf(wf)
    return sorted(id_map.values())


def _in_flight(lp) -> int:
    return lp.fireworks.count_documents({"state": {"$in": ["RESERVED", "RUNNING"]}})


def run_queue(
    config: ClusterConfig,
    settings: Settings,
    fw_ids: list[int] | None = None,
    timeout_s: float = 3600,
    poll_s: float = 1.0,
    log=print,
) -> dict[int, str]:
    """FireWorks' queue launcher in reservation mode: while fireworks are READY and fewer than
    ``config.workers`` Slurm jobs are in flight, reserve one firework and ``sbatch`` it as its own job.

    Returns the final state of every firework of ``fw_ids`` (all fireworks when ``None``); stops when all
    of them are finished (COMPLETED, FIZZLED or DEFUSED) or after ``timeout_s`` seconds (then raises).
    """
    from fireworks import FWorker
    from fireworks.queue.queue_launcher import launch_rocket_to_queue

    config_file = write_worker_config(config)
    uri = config.uri(settings)
    if uri:  # sbatch exports the environment: the only way the URI reaches the Slurm jobs
        os.environ["PHYNEO_MONGO_URI"] = uri
    lp = launchpad(config, settings)
    qadapter = queue_adapter(config, config_file)
    fworker = FWorker(name="phyneo-slurm")
    launch_dir = config.work_path() / "fireworks"
    launch_dir.mkdir(exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        in_flight = _in_flight(lp)
        while in_flight < config.workers and lp.run_exists(fworker):
            job_id = launch_rocket_to_queue(
                lp,
                fworker,
                qadapter,
                str(launch_dir),
                reserve=True,
                strm_lvl="ERROR",
                create_launcher_dir=True,
            )
            if not job_id:
                raise EngineError(
                    "sbatch refused a FireWorks job script",
                    field="partition",
                    fix=f"check the cluster config and `sinfo`; scripts are under {launch_dir}",
                )
            log(f"submitted Slurm job {job_id}")
            in_flight += 1
        query = {"fw_id": {"$in": fw_ids}} if fw_ids else {}
        states = {d["fw_id"]: d["state"] for d in lp.fireworks.find(query, {"fw_id": 1, "state": 1})}
        if states and all(s in FINISHED for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise EngineError(
                f"fireworks not finished after {timeout_s:.0f} s: {states}",
                field="timeout",
                fix="check `squeue` and the slurm-*.err files under " + str(launch_dir),
            )
        time.sleep(poll_s)


def run_reserved(config_file: Path, fw_id: int) -> bool:
    """In a Slurm job: run the reserved firework ``fw_id`` against the JobStore of this process's settings."""
    import jobflow
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    from phyneo_flows.cluster.config import load_cluster_config
    from phyneo_flows.settings import get_settings
    from phyneo_flows.store import get_store

    config = load_cluster_config(config_file)
    settings = get_settings()
    jobflow.SETTINGS.JOB_STORE = get_store(jobstore_settings(config, settings))
    return launch_rocket(
        launchpad(config, settings), FWorker(name="phyneo-slurm"), fw_id=fw_id, strm_lvl="WARNING"
    )
