"""A small flow of cheap jobs that says where each job ran: the smoke test of a cluster route.

Each job returns the Slurm job id, host and process it ran in, so a test (or ``phyneo cluster check``)
can show that every job ran exactly once, each as its own Slurm job.
"""

from __future__ import annotations

import os
import socket

from jobflow import Flow, job


def _where() -> dict:
    return {"slurm_job_id": os.environ.get("SLURM_JOB_ID"), "host": socket.gethostname(), "pid": os.getpid()}


@job
def seed(value: float, label: str) -> dict:
    """The first job: passes ``value`` on."""
    return {"value": value, "label": label, "stage": "box", **_where()}


@job
def scale(previous: dict, factor: float, stage: str) -> dict:
    """A job that depends on another one's output."""
    return {"value": previous["value"] * factor, "label": previous["label"], "stage": stage, **_where()}


@job
def total(parts: list[dict]) -> dict:
    """The last job: joins the branches."""
    return {
        "value": sum(p["value"] for p in parts),
        "label": parts[0]["label"],
        "stage": "report",
        **_where(),
    }


def small_flow(label: str = "smoke", branches: int = 2) -> Flow:
    """``seed -> branches x scale -> total``: ``branches + 2`` jobs; total ``1.5 * sum(1..branches)``."""
    first = seed(1.5, label)
    first.name = f"{label} seed"
    first.metadata.update({"formulation": label, "stage": "box"})
    mids = []
    for i in range(branches):
        stage = "qm" if i % 2 == 0 else "md"
        mid = scale(first.output, float(i + 1), stage)
        mid.name = f"{label} scale {i + 1}"
        mid.metadata.update({"formulation": label, "stage": stage})
        mids.append(mid)
    last = total([m.output for m in mids])
    last.name = f"{label} total"
    last.metadata.update({"formulation": label, "stage": "report"})
    return Flow([first, *mids, last], output=last.output, name=f"{label} small flow")
