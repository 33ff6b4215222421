"""The content-addressed result cache over a maggma store."""

from __future__ import annotations

import subprocess

import pytest
from jobflow import JobStore
from maggma.stores import MemoryStore

from phyneo_flows.qm.cache import KEY_FIELD, QMCache, cache_store_of
from phyneo_flows.qm.harness import QMFailure
from phyneo_flows.qm.models import Dimer
from phyneo_flows.qm.psi4 import SaptInput, SaptResult

SAPT_ECP_XYZ = """4
water Ca2+
H -0.803001 1.098737 0.000360
H -0.919454 -1.089722 0.000521
O -0.035537 -0.067631 0.000218
Ca 2.281447 -0.004247 -0.000154
"""


def _no_subprocess(*args, **kwargs):
    raise AssertionError(f"an engine was started: {args}")


def test_second_identical_request_is_read_without_starting_psi4(sapt_ecp_cache, psi4_harness, monkeypatch):
    cache, first = sapt_ecp_cache
    assert isinstance(first, SaptResult), first
    psi4_harness.version()  # known before the engine is forbidden
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    # the same calculation built anew: options in another order, geometry noise below 1e-5 Angstrom
    again = SaptInput(dimer=Dimer.from_xyz(SAPT_ECP_XYZ.replace("2.281447", "2.2814470004"), split=3,
                                           charges=(0, 2)),
                      basis="3-21G", method="SAPT0",
                      options={"df_fitting_condition": "1.e-12", "diis_rms_error": False, "d_convergence": 10,
                               "e_convergence": 10, "freeze_core": True})
    second = cache.compute_cached(psi4_harness, again)
    assert second == first
    assert cache.store.count({KEY_FIELD: cache.key(psi4_harness, again)}) == 1


class _CountingHarness:
    """A stand-in engine for the cache's bookkeeping (no physics is checked with it)."""

    name = "counting"

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail

    def found(self) -> bool:
        return True

    def version(self) -> str:
        return "1"

    def compute(self, input):
        self.calls += 1
        if self.fail:
            return QMFailure(engine=self.name, message="no", input_hash=input.input_hash())
        return SaptResult(engine=self.name, version="1", input_hash=input.input_hash(), method="sapt0",
                          basis=input.basis, electrostatics=-1.0, exchange=2.0, induction=-0.5, delta_hf=-0.1,
                          dispersion=-0.2, total=0.3)


@pytest.fixture
def ecp_input() -> SaptInput:
    return SaptInput(dimer=Dimer.from_xyz(SAPT_ECP_XYZ, split=3, charges=(0, 2)), basis="3-21g")


def test_failures_are_not_cached_and_results_are(ecp_input):
    cache = QMCache(MemoryStore())
    failing = _CountingHarness(fail=True)
    assert isinstance(cache.compute_cached(failing, ecp_input), QMFailure)
    assert isinstance(cache.compute_cached(failing, ecp_input), QMFailure)
    assert failing.calls == 2
    good = _CountingHarness()
    first = cache.compute_cached(good, ecp_input)
    assert cache.compute_cached(good, ecp_input) == first and good.calls == 1
    other = ecp_input.model_copy(update={"options": {"maxiter": 80}})
    cache.compute_cached(good, other)
    assert good.calls == 2


def test_get_and_put_round_trip_the_result_class(ecp_input):
    cache = QMCache(MemoryStore())
    harness = _CountingHarness()
    key = cache.key(harness, ecp_input)
    assert cache.get(key) is None
    result = harness.compute(ecp_input)
    cache.put(key, result, ecp_input)
    assert cache.get(key) == result and isinstance(cache.get(key), SaptResult)
    assert key != cache.key(_CountingHarness(), ecp_input.model_copy(update={"basis": "sto-3g"}))


def test_cache_uses_the_jobstores_qm_cache_store_when_there_is_one():
    docs, cache = MemoryStore(), MemoryStore()
    assert cache_store_of(JobStore(docs, additional_stores={"qm_cache": cache})) is cache
    assert cache_store_of(JobStore(docs, additional_stores={"data": MemoryStore()})) is docs
