"""Real psi4 runs against psi4's own published test suite (psi4 1.3.2 samples/<test>/test.in)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from phyneo_flows.qm.harness import QMFailure, compute_many
from phyneo_flows.qm.models import Dimer, QMMolecule
from phyneo_flows.qm.psi4 import SaptInput, SaptResult
from phyneo_flows.units import ANGSTROM_TO_NM, BOHR_TO_NM, HARTREE_TO_KJ_MOL, ONE_4PI_EPS0

ETHENE_ETHYNE = """10
ethene ethyne (psi4 tests sapt1 and tu5-sapt), Angstrom
C     0.000000    -0.667578    -2.124659
C     0.000000     0.667578    -2.124659
H     0.923621    -1.232253    -2.126185
H    -0.923621    -1.232253    -2.126185
H    -0.923621     1.232253    -2.126185
H     0.923621     1.232253    -2.126185
C     0.000000     0.000000     2.900503
C     0.000000     0.000000     1.693240
H     0.000000     0.000000     0.627352
H     0.000000     0.000000     3.963929
"""
KEYS = ("electrostatics", "exchange", "induction", "dispersion", "total")


def _hartree(result: SaptResult) -> dict[str, float]:
    assert isinstance(result, SaptResult), result
    return {key: getattr(result, key) / HARTREE_TO_KJ_MOL for key in KEYS}


def _neon_argon() -> Dimer:
    return Dimer(monomer_a=QMMolecule(symbols=["Ne"], coordinates_nm=[[0, 0, 0]]),
                 monomer_b=QMMolecule(symbols=["Ar"], coordinates_nm=[[0, 0, 6.5 * BOHR_TO_NM]]))


def test_sapt_ecp_charged_monomer_total(sapt_ecp_result):
    """tests/sapt-ecp: SAPT0/3-21G water...Ca2+, total -0.09561567760757009 Eh (psi4 checks 1e-8)."""
    assert isinstance(sapt_ecp_result, SaptResult), sapt_ecp_result
    assert sapt_ecp_result.total / HARTREE_TO_KJ_MOL == pytest.approx(-0.09561567760757009, abs=1e-8)
    assert sapt_ecp_result.units == "kJ/mol" and sapt_ecp_result.version.startswith("1.3")


@pytest.mark.slow
def test_sapt1_ethene_ethyne_cc_pvdz(psi4_harness):
    """tests/sapt1: SAPT0/cc-pVDZ, every component to 1e-6 Eh."""
    inp = SaptInput(dimer=Dimer.from_xyz(ETHENE_ETHYNE, split=6), basis="cc-pvdz",
                    options={"guess": "sad", "d_convergence": 11, "puream": True})
    reference = {"electrostatics": -0.00359915058, "exchange": 0.00362911158, "induction": -0.00083137117,
                 "dispersion": -0.00150542374, "total": -0.00230683391}
    got = _hartree(psi4_harness.compute(inp))
    for key, value in reference.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_tu5_sapt_ethene_ethyne_jun_cc_pvdz_frozen_core(psi4_harness):
    """tests/tu5-sapt: SAPT0/jun-cc-pVDZ with frozen core, every component to 1e-6 Eh."""
    inp = SaptInput(dimer=Dimer.from_xyz(ETHENE_ETHYNE, split=6), basis="jun-cc-pVDZ",
                    options={"freeze_core": True})
    reference = {"electrostatics": -0.003378388762, "exchange": 0.003704416103, "induction": -0.000889316601,
                 "dispersion": -0.001672292164, "total": -0.002235581423}
    got = _hartree(psi4_harness.compute(inp))
    for key, value in reference.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_sapt_dft1_neon_argon_with_given_grac_shifts(psi4_harness):
    """tests/sapt-dft1: SAPT(DFT)/aug-cc-pVDZ (PBE0) Ne...Ar with the test's GRAC shifts, to 1e-6 Eh."""
    inp = SaptInput(dimer=_neon_argon(), method="sapt(dft)", basis="aug-cc-pvdz",
                    grac_shift_a=0.203293 * HARTREE_TO_KJ_MOL, grac_shift_b=0.138264 * HARTREE_TO_KJ_MOL)
    reference_meh = {"electrostatics": -0.10190449, "exchange": 0.36545706, "induction": -0.00840483,
                     "dispersion": -0.24398704, "total": 0.01122234}
    result = psi4_harness.compute(inp)
    got = _hartree(result)
    for key, value in reference_meh.items():
        assert got[key] == pytest.approx(value / 1000.0, abs=1e-6), key
    assert result.grac_shift_a == pytest.approx(0.203293 * HARTREE_TO_KJ_MOL)


@pytest.mark.slow
def test_sapt_dft_computes_grac_shifts_by_delta_scf(psi4_harness):
    """Without shifts the harness computes IP + e_HOMO (PBE0/aug-cc-pVDZ delta-SCF); psi4's sapt-dft1 test
    uses 0.203293 (Ne) and 0.138264 (Ar) Eh."""
    result = psi4_harness.compute(SaptInput(dimer=_neon_argon(), method="sapt(dft)", basis="aug-cc-pvdz"))
    assert isinstance(result, SaptResult), result
    assert result.grac_shift_a / HARTREE_TO_KJ_MOL == pytest.approx(0.203293, abs=2e-3)
    assert result.grac_shift_b / HARTREE_TO_KJ_MOL == pytest.approx(0.138264, abs=2e-3)
    ip_a, ip_b = result.ionization_potentials
    assert ip_a / HARTREE_TO_KJ_MOL == pytest.approx(0.7925, rel=0.03)  # Ne first IP 21.565 eV (NIST)
    assert ip_b / HARTREE_TO_KJ_MOL == pytest.approx(0.5792, rel=0.03)  # Ar first IP 15.760 eV (NIST)
    assert result.grac_shift_a == pytest.approx(ip_a + result.homo_energies[0])


def _li_pf6(distance_angstrom: float) -> Dimer:
    pf = 1.646 * np.vstack([np.eye(3), -np.eye(3)])
    centre = np.array([1.0, 1.0, 1.0]) / np.sqrt(3) * distance_angstrom
    pf6 = (np.vstack([np.zeros(3), pf]) + centre) * ANGSTROM_TO_NM
    return Dimer(monomer_a=QMMolecule(symbols=["Li"], coordinates_nm=[[0, 0, 0]], charge=1),
                 monomer_b=QMMolecule(symbols=["P"] + ["F"] * 6, charge=-1, coordinates_nm=pf6))


@pytest.mark.slow
def test_li_pf6_far_apart_electrostatics_is_coulombs_law(psi4_harness):
    """Li+ and octahedral PF6- (no dipole, no quadrupole) 7 A apart: elst = -q^2/(4 pi eps0 r) within 1%."""
    result = psi4_harness.compute(SaptInput(dimer=_li_pf6(7.0), basis="3-21g"))
    assert isinstance(result, SaptResult), result
    coulomb = -ONE_4PI_EPS0 / (7.0 * ANGSTROM_TO_NM)
    assert result.electrostatics == pytest.approx(coulomb, rel=0.01)
    assert result.induction < 0 and result.dispersion < 0


@pytest.mark.slow
def test_scf_failure_is_retried_then_recorded_with_scratch_kept(psi4_harness, water_dimer_bohr):
    result = psi4_harness.compute(SaptInput(dimer=water_dimer_bohr, basis="sto-3g", options={"maxiter": 2}))
    assert isinstance(result, QMFailure)
    assert result.message == "SCFConvergenceError: Could not converge SCF iterations in 2 iterations."
    assert result.attempts == 3 and result.error_type == "SCFConvergenceError"
    assert os.path.isfile(os.path.join(result.scratch_dir, "output.dat"))


@pytest.mark.slow
def test_batch_returns_the_results_and_records_the_failures(psi4_harness, water_dimer_bohr):
    ok = SaptInput(dimer=water_dimer_bohr, basis="sto-3g")
    bad = SaptInput(dimer=water_dimer_bohr, basis="sto-3g", options={"maxiter": 2})
    before = set(os.listdir(psi4_harness.scratch_root))
    results, failures = compute_many(psi4_harness, [ok, bad, ok.model_copy(update={"basis": "3-21g"})])
    assert [r.basis for r in results] == ["sto-3g", "3-21g"]
    assert len(failures) == 1 and "Could not converge" in failures[0].message
    kept = set(os.listdir(psi4_harness.scratch_root)) - before
    assert {os.path.join(psi4_harness.scratch_root, k) for k in kept} == {failures[0].scratch_dir}
