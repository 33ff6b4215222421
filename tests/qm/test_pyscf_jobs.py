"""The DFT Makers: failures are recorded beside the results of a batch, and a stored result is read, not rerun."""

from __future__ import annotations

import tempfile

import pytest
from jobflow import run_locally
from maggma.stores import MontyStore

from phyneo_flows.qm import pyscf_engine
from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.harness import QMFailure
from phyneo_flows.qm.models import QMMolecule
from phyneo_flows.qm.property_jobs import DFTBatchMaker, DFTMaker
from phyneo_flows.qm.pyscf_engine import DFTInput, DFTResult, PySCFHarness

H2 = QMMolecule.from_xyz("2\n\nH 0 0 0\nH 0 0 0.74\n")
HE = QMMolecule.from_xyz("1\n\nHe 0 0 0\n")
# water with both O-H bonds stretched to 2.4 A: its SCF needs about 18 cycles (H2 and He need 2)
STRETCHED_WATER = QMMolecule.from_xyz("3\n\nO 0 0 0\nH 0 1.9 1.5\nH 0 -1.9 1.5\n")


def _output(job):
    responses = run_locally(job, ensure_success=True)
    return responses[job.uuid][1].output


def test_batch_returns_results_and_recorded_failures(monkeypatch, tmp_path):
    """With every attempt capped at 4 SCF cycles, the stretched water fails after the whole ladder and is
    recorded with PySCF's last energy; the two easy molecules still come back."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the failure's kept scratch folder goes here
    monkeypatch.setattr(pyscf_engine, "RETRY_LADDER", ({"max_cycle": 4}, {"max_cycle": 4, "level_shift": 0.2}))
    maker = DFTBatchMaker(method="hf", basis="sto-3g", task="energy")
    out = _output(maker.make([H2.model_dump(), STRETCHED_WATER.model_dump(), HE.model_dump()]))
    results = [DFTResult.model_validate(r) if isinstance(r, dict) else r for r in out["results"]]
    failures = [QMFailure.model_validate(f) if isinstance(f, dict) else f for f in out["failures"]]
    assert len(results) == 2 and len(failures) == 1
    assert failures[0].attempts == 2 and "not converged" in failures[0].message
    assert failures[0].scratch_dir.startswith(str(tmp_path))
    # H2/STO-3G at 0.74 A: -1.1167 hartree (Szabo & Ostlund's textbook value for R = 1.4 bohr is -1.1167)
    assert results[0].energy_kj_mol / pyscf_engine.HARTREE_TO_KJ_MOL == pytest.approx(-1.1167, abs=2e-3)


def test_dft_maker_reads_the_cache_instead_of_running(tmp_path, monkeypatch):
    store = MontyStore("qm_cache", database_path=str(tmp_path), storage="sqlite")
    inp = DFTInput(molecule=H2, method="hf", basis="sto-3g", task="gradient")
    harness = PySCFHarness()
    first = harness.compute(inp)
    assert isinstance(first, DFTResult)
    QMCache(store).put(QMCache.key(harness, inp), first, inp)

    def _no_engine(*args, **kwargs):
        raise AssertionError("the engine was started")

    monkeypatch.setattr(PySCFHarness, "compute", _no_engine)
    maker = DFTMaker(method="hf", basis="sto-3g", task="gradient", cache_store=store)
    out = _output(maker.make(H2.model_dump()))
    out = DFTResult.model_validate(out) if isinstance(out, dict) else out
    assert out.energy_kj_mol == first.energy_kj_mol
    assert out.forces_kj_mol_nm == first.forces_kj_mol_nm
