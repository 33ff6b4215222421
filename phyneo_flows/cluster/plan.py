"""The flow a submission runs, and what every job of it asks the scheduler for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobflow import Flow

from phyneo_flows.cluster.config import ClusterConfig, Resources


@dataclass(frozen=True)
class PlannedJob:
    """One job of a flow and the resources of its Slurm job."""

    uuid: str
    name: str
    stage: str
    resources: Resources


def formulation_flow(formulation: Path, profile: str = "quick", until: str | None = None) -> Flow:
    """The whole-pipeline flow of a formulation YAML with a profile (``PhyneoElectrolyteMaker``), up to
    stage ``until`` (box | sampling | sapt; default: every stage)."""
    from phyneo_flows.flows import PhyneoElectrolyteMaker
    from phyneo_flows.formulation import load_formulation
    from phyneo_flows.profiles import load_profile

    f = load_formulation(formulation)
    return PhyneoElectrolyteMaker.from_profile(load_profile(profile)).make(f, until=until)


def job_stage(job) -> str:
    """A job's stage, from its metadata (``default`` when it names none)."""
    return str((job.metadata or {}).get("stage") or "default")


def plan(flow: Flow, config: ClusterConfig) -> list[PlannedJob]:
    """Every job of ``flow`` in order, with the resources the config gives its stage."""
    jobs = [j for j, _parents in flow.iterflow()]
    return [
        PlannedJob(uuid=j.uuid, name=j.name, stage=job_stage(j), resources=config.resources_for(job_stage(j)))
        for j in jobs
    ]
