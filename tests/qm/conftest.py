"""Shared helpers of the QM tests: fixture paths, psi4 availability, and psi4's published test cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from maggma.stores import MemoryStore

from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.models import Dimer, QMMolecule
from phyneo_flows.qm.psi4 import Psi4Harness, SaptInput
from phyneo_flows.units import BOHR_TO_NM

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qm" / "psi4"

requires_psi4 = pytest.mark.skipif(shutil.which("psi4") is None, reason="psi4 is not installed")

# psi4 1.3.2 test suite, tests/sapt-ecp: SAPT0/3-21G of water...Ca2+ (a charged monomer)
SAPT_ECP_XYZ = """4
water Ca2+ (psi4 tests/sapt-ecp), Angstrom
H -0.803001 1.098737 0.000360
H -0.919454 -1.089722 0.000521
O -0.035537 -0.067631 0.000218
Ca 2.281447 -0.004247 -0.000154
"""
SAPT_ECP_OPTIONS = {"freeze_core": True, "e_convergence": 10, "d_convergence": 10, "diis_rms_error": False,
                    "df_fitting_condition": "1.e-12"}
SAPT_ECP_TOTAL_HARTREE = -0.09561567760757009  # ref_321g in tests/sapt-ecp/input.dat


def make_sapt_ecp_input() -> SaptInput:
    """psi4's sapt-ecp test (its 3-21G half) as our input."""
    return SaptInput(dimer=Dimer.from_xyz(SAPT_ECP_XYZ, split=3, charges=(0, 2)), method="sapt0",
                     basis="3-21g", options=SAPT_ECP_OPTIONS)


def make_water_dimer_bohr() -> Dimer:
    """The water dimer of psi4's tests sapt-compare and sapt-dft2 (coordinates given there in bohr)."""
    bohr = np.array([[-2.930978458, -0.216411437, 0.0], [-3.655219777, 1.440921844, 0.0],
                     [-1.133225297, 0.076934530, 0.0], [2.552311356, 0.210645882, 0.0],
                     [3.175492012, -0.706268134, -1.433472544], [3.175492012, -0.706268134, 1.433472544]])
    nm = bohr * BOHR_TO_NM
    return Dimer(monomer_a=QMMolecule(symbols=["O", "H", "H"], coordinates_nm=nm[:3]),
                 monomer_b=QMMolecule(symbols=["O", "H", "H"], coordinates_nm=nm[3:]))


@pytest.fixture(scope="session")
def psi4_harness(tmp_path_factory: pytest.TempPathFactory) -> Psi4Harness:
    """A real psi4 harness whose scratch directories go to a session temp dir."""
    if shutil.which("psi4") is None:
        pytest.skip("psi4 is not installed")
    return Psi4Harness(threads=2, scratch_root=tmp_path_factory.mktemp("psi4-scratch"))


@pytest.fixture(scope="session")
def sapt_ecp_cache(psi4_harness: Psi4Harness) -> tuple[QMCache, object]:
    """One real psi4 run of the sapt-ecp case (about 5 s) through a cache over a MemoryStore."""
    cache = QMCache(MemoryStore())
    return cache, cache.compute_cached(psi4_harness, make_sapt_ecp_input())


@pytest.fixture(scope="session")
def sapt_ecp_result(sapt_ecp_cache):
    """The result of that run, shared by the fast tests."""
    return sapt_ecp_cache[1]


@pytest.fixture
def sapt_ecp_input() -> SaptInput:
    return make_sapt_ecp_input()


@pytest.fixture
def water_dimer_bohr() -> Dimer:
    return make_water_dimer_bohr()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
