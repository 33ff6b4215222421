"""The monomer-properties driver, its CLI function and its cache, end to end on small real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from maggma.stores import MemoryStore
from typer.testing import CliRunner

from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.models import QMMolecule
from phyneo_flows.qm.properties import (
    MonomerProperties,
    PropertiesHarness,
    PropertiesInput,
    compute_properties,
    polarizability_agreement,
)
from phyneo_flows.qm.properties_cli import properties
from phyneo_flows.units import BOHR_TO_NM

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qm" / "pyscf"
WATER_XYZ = "3\nwater, Angstrom\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\nH 0.0 -0.7572 -0.4692\n"
CLI_FIELDS = {"element", "charge", "dipole", "quadrupole", "volume_bohr3", "polarizability", "c6"}


@pytest.fixture(scope="module")
def water_sto3g() -> MonomerProperties:
    """A small real run (HF/STO-3G water, about 2 s)."""
    result = compute_properties(QMMolecule.from_xyz(WATER_XYZ), basis="sto-3g")
    assert isinstance(result, MonomerProperties), result
    return result


def test_water_properties_are_consistent(water_sto3g):
    atoms = water_sto3g.atoms
    assert [a.element for a in atoms] == ["O", "H", "H"]
    assert atoms[1].atom_type == atoms[2].atom_type
    assert atoms[1].charge == atoms[2].charge  # averaged over the two equivalent hydrogens
    assert sum(a.charge for a in atoms) == pytest.approx(0.0, abs=1e-5)
    assert atoms[0].frame.axis_name == "Bisector" and atoms[1].frame.axis_name == "ZThenX"
    # O's dipole and quadrupole in its bisector frame: the dipole lies on the local z axis
    assert abs(atoms[0].dipole[0]) < 1e-8 and abs(atoms[0].dipole[1]) < 1e-8
    assert np.trace(np.asarray(atoms[0].quadrupole)) == pytest.approx(0.0, abs=1e-12)
    # STO-3G has almost no out-of-plane response, so only the isotropic value is checked here
    assert polarizability_agreement(water_sto3g)["isotropic"] < 0.02
    assert all(a.c6 > 0 and a.c8 > 0 and a.c10 > 0 for a in atoms)


def test_cli_json_has_the_issue_fields(tmp_path):
    app = typer.Typer()
    app.command()(properties)
    xyz = tmp_path / "water.xyz"
    xyz.write_text(WATER_XYZ)
    result = CliRunner().invoke(app, [str(xyz), "--basis", "sto-3g", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) >= {"atoms", "molecular_polarizability", "units"}
    assert all(CLI_FIELDS <= set(atom) for atom in doc["atoms"])
    assert np.asarray(doc["molecular_polarizability"]).shape == (3, 3)
    assert doc["units"]["polarizability"] == "nm^3"
    assert doc["atoms"][0]["frame"]["axis_name"] == "Bisector"


def test_bad_basis_is_an_input_error_before_the_scf():
    from phyneo_flows.errors import InputError

    with pytest.raises(InputError) as info:
        compute_properties(QMMolecule.from_xyz(WATER_XYZ), basis="no-such-basis")
    assert info.value.field == "basis"


def test_second_request_comes_from_the_cache(water_sto3g, monkeypatch):
    harness = PropertiesHarness()
    inp = PropertiesInput(molecule=QMMolecule.from_xyz(WATER_XYZ), basis="sto-3g")
    cache = QMCache(MemoryStore())
    cache.put(QMCache.key(harness, inp), water_sto3g, inp)

    def _no_engine(*args, **kwargs):
        raise AssertionError("the engine was started")

    monkeypatch.setattr(PropertiesHarness, "compute", _no_engine)
    again = cache.compute_cached(harness, inp)
    assert isinstance(again, MonomerProperties)
    assert again.atoms[0].charge == water_sto3g.atoms[0].charge


@pytest.mark.parametrize("name", ["water", "EC"])
def test_stored_properties_fixture(name):
    """HF/aug-cc-pVDZ fixtures load as results, with sensible physics."""
    doc = json.loads((FIXTURES / f"properties_{name}_hf_augccpvdz.json").read_text())
    props = MonomerProperties.model_validate(doc["properties"])
    alpha_au = np.trace(np.asarray(props.molecular_polarizability)) / 3 / BOHR_TO_NM**3
    if name == "water":
        # HF-limit static polarisability of water is about 8.5 bohr^3 (aug-cc-pVDZ slightly below)
        assert alpha_au == pytest.approx(8.5, rel=0.06)
    else:
        assert 30.0 < alpha_au < 50.0
        assert {a.frame.axis_name for a in props.atoms} == {"ZBisect", "ZThenX"}
    assert polarizability_agreement(props)["isotropic"] < 0.02


@pytest.mark.slow
def test_ec_properties_from_smiles_end_to_end():
    from phyneo_flows.qm.properties_cli import load_molecule

    molecule, bonds, types = load_molecule("EC")
    result = compute_properties(molecule, bonds=bonds, atom_types=types)
    pos_bohr = np.asarray(molecule.coordinates_nm) / BOHR_TO_NM
    rebuilt = (np.asarray(result.lab_charges)[:, None] * pos_bohr).sum(0) + \
        np.asarray(result.lab_dipoles).sum(0) / BOHR_TO_NM
    np.testing.assert_allclose(rebuilt, np.asarray(result.molecular_dipole) / BOHR_TO_NM, atol=1e-3)
    agreement = polarizability_agreement(result)
    assert agreement["isotropic"] < 0.02 and agreement["principal"] < 0.10


def test_lithium_ion_uses_free_ion_values():
    """A bare Li+ (library species): one MBIS shell, charge +1, NoAxisType, and the free-ion RPA
    polarisability (0.1925 bohr^3 exact; Mitroy, Safronova, Clark, J. Phys. B 43, 202001 (2010))."""
    from phyneo_flows.qm.properties_cli import load_molecule

    molecule, bonds, types = load_molecule("Li+")
    result = compute_properties(molecule, bonds=bonds, atom_types=types, basis="cc-pvdz")
    atom = result.atoms[0]
    assert atom.charge == pytest.approx(1.0, abs=1e-6)
    assert atom.frame.axis_name == "NoAxisType"
    assert atom.polarizability / BOHR_TO_NM**3 == pytest.approx(0.1925, rel=0.03)
    assert atom.c6 > 0 and atom.c8 > 0


def test_ec_fixture_charges_and_dipoles_rebuild_the_molecular_dipole():
    """EC at HF/aug-cc-pVDZ (fixture): sum q_i R_i + sum mu_i equals PySCF's analytic dipole to 1e-3 au."""
    doc = json.loads((FIXTURES / "properties_EC_hf_augccpvdz.json").read_text())
    props = doc["properties"]
    pos_bohr = np.asarray(doc["positions_nm"]) / BOHR_TO_NM
    charges = np.asarray(props["lab_charges"])
    rebuilt = (charges[:, None] * pos_bohr).sum(0) + np.asarray(props["lab_dipoles"]).sum(0) / BOHR_TO_NM
    reference = np.asarray(props["molecular_dipole"]) / BOHR_TO_NM
    assert np.linalg.norm(reference) > 1.5  # EC is strongly polar (about 2.3 au)
    np.testing.assert_allclose(rebuilt, reference, atol=1e-3)
