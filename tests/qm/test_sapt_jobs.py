"""The jobflow Makers: a SaptMaker given a store reads a stored result instead of starting psi4."""

from __future__ import annotations

import subprocess

import pytest
from jobflow import run_locally
from maggma.stores import MontyStore

from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.jobs import SaptMaker
from phyneo_flows.qm.psi4 import SaptResult


def _no_subprocess(*args, **kwargs):
    raise AssertionError(f"an engine was started: {args}")


def test_sapt_maker_reads_the_cache(sapt_ecp_result, sapt_ecp_input, psi4_harness, monkeypatch, tmp_path):
    first = sapt_ecp_result
    assert isinstance(first, SaptResult), first
    # a file-backed store: jobflow serialises the Maker, and a MemoryStore would come back empty
    store = MontyStore("qm_cache", database_path=str(tmp_path), storage="sqlite")
    QMCache(store).put(QMCache.key(psi4_harness, sapt_ecp_input), first, sapt_ecp_input)
    maker = SaptMaker(method="sapt0", basis="3-21g", options=dict(sapt_ecp_input.options), cache_store=store)
    maker.harness().version()  # psi4 --version, before any subprocess is forbidden
    monkeypatch.setattr(SaptMaker, "harness", lambda self: psi4_harness)
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    job = maker.make(sapt_ecp_input.dimer.model_dump())
    responses = run_locally(job, ensure_success=True)
    output = responses[job.uuid][1].output
    assert output == first or SaptResult.model_validate(output) == first
    assert output.total == pytest.approx(first.total)
