"""The PySCF harness against psi4 1.3.2 (an independent code): energies and gradients of the same molecule.

The psi4 outputs are in fixtures/qm/pyscf/ (README there gives the commands).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from maggma.stores import MemoryStore

from phyneo_flows.errors import InputError
from phyneo_flows.qm import pyscf_engine
from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.harness import QMFailure, get_harness
from phyneo_flows.qm.models import QMMolecule
from phyneo_flows.qm.pyscf_engine import DFTInput, DFTResult, PySCFHarness, gpu_available
from phyneo_flows.units import BOHR_TO_NM, HARTREE_TO_KJ_MOL

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qm" / "pyscf"
WATER_XYZ = "3\nwater (as in the psi4 fixtures), Angstrom\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\n" \
            "H 0.0 -0.7572 -0.4692\n"
LI_WATER_XYZ = "4\nLi+ water, Angstrom\nLi 0 0 -1.9\nO 0 0 0\nH 0 0.757 0.587\nH 0 -0.757 0.587\n"
OH_XYZ = "2\nOH radical, Angstrom\nO 0.0 0.0 0.0\nH 0.0 0.0 0.97\n"


def psi4_energy_gradient(name: str) -> tuple[float, np.ndarray]:
    """Total energy (hartree) and gradient (hartree/bohr) printed by psi4 in fixtures/qm/pyscf/<name>."""
    text = (FIXTURES / name / "output.dat").read_text()
    energy = float(re.search(r"^PHYNEO ENERGY (\S+)", text, re.M).group(1))
    block = text.split("-Total Gradient:")[1].splitlines()[3:]
    rows = []
    for line in block:
        parts = line.split()
        if len(parts) != 4:
            break
        rows.append([float(v) for v in parts[1:]])
    return energy, np.array(rows)


def psi4_dipole(name: str) -> np.ndarray:
    """The total dipole moment (e bohr) psi4 printed in fixtures/qm/pyscf/<name>."""
    text = (FIXTURES / name / "output.dat").read_text()
    match = re.search(r"^  Dipole Moment: \[e a0\]\n\s+X:\s+(\S+)\s+Y:\s+(\S+)\s+Z:\s+(\S+)", text, re.M)
    return np.array([float(v) for v in match.groups()])


def _hartree(result: DFTResult) -> tuple[float, np.ndarray]:
    gradient = -np.asarray(result.forces_kj_mol_nm) / HARTREE_TO_KJ_MOL * BOHR_TO_NM
    return result.energy_kj_mol / HARTREE_TO_KJ_MOL, gradient


@pytest.fixture(scope="module")
def water_hf() -> DFTResult:
    """One small real PySCF run (HF/def2-SVP water, about 2 s)."""
    result = PySCFHarness().compute(DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ), method="hf",
                                             basis="def2-svp"))
    assert isinstance(result, DFTResult), result
    return result


def test_hf_energy_and_gradient_match_psi4(water_hf):
    ref_energy, ref_gradient = psi4_energy_gradient("psi4_water_hf")
    energy, gradient = _hartree(water_hf)
    assert energy == pytest.approx(ref_energy, abs=1e-6)
    np.testing.assert_allclose(gradient, ref_gradient, atol=1e-5)
    assert water_hf.device == "cpu" or gpu_available()
    assert water_hf.scf_attempts == 1
    assert np.asarray(water_hf.forces_kj_mol_nm).shape == (3, 3)
    # psi4 prints the dipole (e a0) to 4 decimals: 'Dipole Moment: [e a0] ... Z: -0.8395'
    np.testing.assert_allclose(np.asarray(water_hf.dipole_e_nm) / BOHR_TO_NM, psi4_dipole("psi4_water_hf"),
                               atol=1e-4)


def test_cation_energy_gradient_and_dipole_match_psi4():
    """Li+...water, charge +1 (HF/def2-SVP): energy, gradient, and the dipole about the origin."""
    ref_energy, ref_gradient = psi4_energy_gradient("psi4_li_water_hf")
    molecule = QMMolecule.from_xyz(LI_WATER_XYZ, charge=1)
    result = PySCFHarness().compute(DFTInput(molecule=molecule, method="hf", basis="def2-svp"))
    energy, gradient = _hartree(result)
    assert energy == pytest.approx(ref_energy, abs=1e-6)
    np.testing.assert_allclose(gradient, ref_gradient, atol=1e-5)
    np.testing.assert_allclose(np.asarray(result.dipole_e_nm) / BOHR_TO_NM, psi4_dipole("psi4_li_water_hf"),
                               atol=1e-4)


@pytest.mark.slow
def test_wb97x_energy_and_gradient_match_psi4():
    ref_energy, ref_gradient = psi4_energy_gradient("psi4_water_wb97x")
    result = PySCFHarness().compute(DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ), method="wb97x",
                                             basis="def2-svp", options={"grid_level": 5}))
    energy, gradient = _hartree(result)
    # different integration grids (psi4 99x590, PySCF level 5): agreement to 5e-5 hartree
    assert energy == pytest.approx(ref_energy, abs=5e-5)
    np.testing.assert_allclose(gradient, ref_gradient, atol=1e-4)


def test_open_shell_doublet_matches_psi4_uhf():
    ref_energy, ref_gradient = psi4_energy_gradient("psi4_oh_uhf")
    result = PySCFHarness().compute(DFTInput(molecule=QMMolecule.from_xyz(OH_XYZ, multiplicity=2),
                                             method="hf", basis="def2-svp"))
    energy, gradient = _hartree(result)
    assert energy == pytest.approx(ref_energy, abs=1e-6)
    np.testing.assert_allclose(gradient, ref_gradient, atol=1e-5)


def test_default_level_is_wb97x_d3bj_def2_svp():
    inp = DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ))
    assert (inp.method, inp.basis, inp.task) == ("wb97x-d3bj", "def2-svp", "gradient")


def test_unconverged_scf_is_retried_then_recorded_as_failure(tmp_path):
    molecule = QMMolecule.from_xyz(WATER_XYZ)
    never = PySCFHarness(ladder=({"max_cycle": 1}, {"max_cycle": 2, "level_shift": 0.3}),
                         scratch_root=tmp_path / "failed")
    failure = never.compute(DFTInput(molecule=molecule, method="hf", basis="sto-3g", task="energy"))
    assert isinstance(failure, QMFailure)
    assert failure.attempts == 2 and failure.error_type == "SCFConvergenceError"
    assert "attempt 2" in failure.message and "not converged" in failure.message
    # the failed run keeps its checkpoint for inspection
    assert Path(failure.scratch_dir).parent == tmp_path / "failed"
    assert (Path(failure.scratch_dir) / "scf.chk").is_file()
    second = PySCFHarness(ladder=({"max_cycle": 1}, {"max_cycle": 100}), scratch_root=tmp_path / "ok")
    result = second.compute(DFTInput(molecule=molecule, method="hf", basis="sto-3g", task="energy"))
    assert isinstance(result, DFTResult) and result.scf_attempts == 2
    assert result.forces_kj_mol_nm is None
    assert list((tmp_path / "ok").iterdir()) == []  # a successful run leaves nothing behind


@pytest.mark.parametrize(("field", "kwargs"), [("basis", {"basis": "no-such-basis"}),
                                               ("method", {"method": "b3lyq"})])
def test_bad_method_or_basis_is_an_input_error_before_the_scf(field, kwargs):
    with pytest.raises(InputError) as info:
        PySCFHarness().compute(DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ), **kwargs))
    assert info.value.field == field


def test_psi4_library_basis_builds_for_pyscf():
    """jun-cc-pVDZ (SAPT0's basis; Papajak and Truhlar 2011: cc-pVDZ plus aug-cc-pVDZ's diffuse s and p on
    heavy atoms, none on H) is not in PySCF's library; build_mole takes it from psi4's. Water: O 14 + 4, H 5 + 5
    spherical functions = 28 (cc-pVDZ 24, aug-cc-pVDZ 41)."""
    from phyneo_flows.qm.pyscf_engine import build_mole

    water = QMMolecule.from_xyz(WATER_XYZ)
    assert build_mole(water, "cc-pvdz").nao_nr() == 24
    assert build_mole(water, "jun-cc-pvdz").nao_nr() == 28
    assert build_mole(water, "aug-cc-pvdz").nao_nr() == 41


def test_charge_that_does_not_fit_the_electrons_is_an_input_error():
    with pytest.raises(InputError):
        DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ, charge=1))  # 9 electrons, singlet


def test_second_request_comes_from_the_cache(water_hf, monkeypatch):
    harness = get_harness("pyscf_engine")  # "pyscf" works once this module is imported
    inp = DFTInput(molecule=QMMolecule.from_xyz(WATER_XYZ), method="hf", basis="def2-svp")
    cache = QMCache(MemoryStore())
    cache.put(QMCache.key(harness, inp), water_hf, inp)

    def _no_engine(*args, **kwargs):
        raise AssertionError("the engine was started")

    monkeypatch.setattr(PySCFHarness, "compute", _no_engine)
    again = cache.compute_cached(harness, inp)
    assert isinstance(again, DFTResult)
    assert again.energy_kj_mol == water_hf.energy_kj_mol


@pytest.mark.slow
def test_default_wb97x_d3bj_forces_are_the_energy_gradient():
    """Forces of the default level (with the D3(BJ) term) against a central difference of its energy."""
    molecule = QMMolecule.from_xyz(WATER_XYZ)
    result = PySCFHarness().compute(DFTInput(molecule=molecule, options={"conv_tol": 1e-11}))
    step = 1e-4  # nm
    energies = []
    for sign in (1.0, -1.0):
        coords = np.array(molecule.coordinates_nm)
        coords[1, 2] += sign * step
        moved = QMMolecule(symbols=molecule.symbols, coordinates_nm=coords)
        energies.append(PySCFHarness().compute(DFTInput(molecule=moved, task="energy",
                                                        options={"conv_tol": 1e-11})).energy_kj_mol)
    numeric = -(energies[0] - energies[1]) / (2 * step)
    assert result.forces_kj_mol_nm[1][2] == pytest.approx(numeric, abs=0.05)


def test_unknown_option_and_missing_gpu_are_input_errors(monkeypatch):
    molecule = QMMolecule.from_xyz(WATER_XYZ)
    with pytest.raises(InputError) as info:
        PySCFHarness().compute(DFTInput(molecule=molecule, options={"conv_tl": 1e-8}))
    assert info.value.field == "options"
    monkeypatch.setattr(pyscf_engine, "gpu_available", lambda: False)
    with pytest.raises(InputError) as info:
        PySCFHarness().compute(DFTInput(molecule=molecule, options={"use_gpu": True}))
    assert info.value.field == "use_gpu"


def test_gpu_is_used_only_when_gpu4pyscf_imports(monkeypatch):
    monkeypatch.setattr(pyscf_engine.importlib.util, "find_spec", lambda name: None)
    assert gpu_available() is False


def test_level_and_scratch_come_from_settings(tmp_path):
    from phyneo_flows.settings import Settings

    harness = PySCFHarness.from_settings(Settings(data_dir=tmp_path, keep_scratch=True))
    assert harness.scratch_root == tmp_path / "scratch" / "pyscf" and harness.keep_scratch

    settings = Settings(dft_functional="b3lyp-d3bj", dft_basis="def2-tzvp")
    inp = pyscf_engine.dft_input(QMMolecule.from_xyz(WATER_XYZ), settings, task="energy", grid_level=4)
    assert (inp.method, inp.basis, inp.task, inp.options) == ("b3lyp-d3bj", "def2-tzvp", "energy",
                                                             {"grid_level": 4})
    assert pyscf_engine.dft_input(QMMolecule.from_xyz(WATER_XYZ)).method == "wb97x-d3bj"
