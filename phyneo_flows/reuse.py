"""Finished work is read, not redone: a stage job looks for its own input hash in the store first.

A job made with ``REUSE_CONFIG`` sees the JobStore it runs against. ``previous(stage, key)`` returns the
newest output of that stage computed from the same inputs, so a rerun after a crash, or a new
formulation sharing a stage with an old one, reuses the stored result. The reused document is stored
again under the new job with ``reused_from`` naming the job that computed it.
"""

from __future__ import annotations

from typing import Any

from jobflow import JobConfig

REUSE_CONFIG = JobConfig(expose_store=True)


def previous(stage: str, key: str) -> dict[str, Any] | None:
    """The stored output of ``stage`` for input hash ``key`` (data-store fields loaded), or None."""
    from jobflow import CURRENT_JOB

    store = getattr(CURRENT_JOB, "store", None)
    if store is None or not key:
        return None
    doc = store.query_one({"output.stage": stage, "output.input_hash": key, "output.reused_from": None},
                          properties=["uuid", "output"], load=True, sort={"completed_at": -1})
    if doc is None:
        return None
    output = dict(doc["output"])
    output["reused_from"] = doc["uuid"]
    return output
