"""Boundary models: validation errors name the field; the content hash ignores noise below 1e-5 A."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.errors import InputError
from phyneo_flows.qm.models import Dimer, QMMolecule, read_xyz
from phyneo_flows.qm.psi4 import SaptInput

WATER_DIMER = """6
water dimer, Angstrom
O  -1.551007  -0.114520   0.000000
H  -1.934259   0.762503   0.000000
H  -0.599677   0.040712   0.000000
O   1.350625   0.111469   0.000000
H   1.680398  -0.373741  -0.758561
H   1.680398  -0.373741   0.758561
"""


def test_xyz_is_read_in_angstrom_and_stored_in_nm(tmp_path):
    path = tmp_path / "w.xyz"
    path.write_text(WATER_DIMER)
    dimer = Dimer.from_xyz(path, split=3)
    assert dimer.monomer_a.symbols == ("O", "H", "H")
    assert dimer.monomer_b.coordinates_nm[1] == pytest.approx((0.1680398, -0.0373741, -0.0758561))
    assert np.allclose(dimer.monomer_a.coordinates_angstrom, read_xyz(WATER_DIMER)[1][:3])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"symbols": ["O", "H"], "coordinates_nm": [[0, 0, 0], [0, 0, 0.1]]}, "multiplicity"),  # 9 electrons
    ({"symbols": ["Li"], "coordinates_nm": [[0, 0, 0]], "charge": 1, "multiplicity": 2}, "multiplicity"),
    ({"symbols": ["H"], "coordinates_nm": [[0, 0, 0]], "charge": 2, "multiplicity": 1}, "charge"),
    ({"symbols": ["Xq"], "coordinates_nm": [[0, 0, 0]]}, "symbols"),
    ({"symbols": ["H", "H"], "coordinates_nm": [[0, 0, 0]]}, "coordinates_nm"),
    ({"symbols": ["H"], "coordinates_nm": [[0, 0]], "multiplicity": 2}, "coordinates_nm"),
])
def test_bad_molecules_raise_input_error_naming_the_field(kwargs, field):
    with pytest.raises(InputError) as info:
        QMMolecule(**kwargs)
    assert info.value.field == field


def test_ions_and_radicals_are_accepted():
    assert QMMolecule(symbols=["Li"], coordinates_nm=[[0, 0, 0]], charge=1).n_electrons == 2
    assert QMMolecule(symbols=["O", "H"], coordinates_nm=[[0, 0, 0], [0, 0, 0.097]], multiplicity=2)
    pf6 = QMMolecule(symbols=["P"] + ["F"] * 6, coordinates_nm=np.vstack([np.zeros(3), 0.16 * np.vstack(
        [np.eye(3), -np.eye(3)])]), charge=-1)
    assert pf6.n_electrons == 15 + 6 * 9 + 1


def test_overlapping_monomers_are_rejected():
    text = WATER_DIMER.replace("O   1.350625   0.111469", "O  -0.500000   0.040000")
    with pytest.raises(InputError) as info:
        Dimer.from_xyz(text, split=3)
    assert info.value.field == "monomer_b"
    assert "0.5" in str(info.value)


@pytest.mark.parametrize("split", [0, 6, 7, -1])
def test_split_out_of_range(split):
    with pytest.raises(InputError) as info:
        Dimer.from_xyz(WATER_DIMER, split=split)
    assert info.value.field == "split"


def test_nested_validation_names_the_monomer():
    good = QMMolecule(symbols=["He"], coordinates_nm=[[0, 0, 0]]).model_dump()
    with pytest.raises(InputError) as info:
        Dimer.model_validate({"monomer_a": good,
                              "monomer_b": {"symbols": ["Zz"], "coordinates_nm": [[0, 0, 1]]}})
    assert info.value.field == "monomer_b.symbols"


def test_hash_rounds_geometry_to_1e5_angstrom_and_sorts_options():
    dimer = Dimer.from_xyz(WATER_DIMER, split=3)
    base = SaptInput(dimer=dimer, options={"maxiter": 100, "e_convergence": 1e-8})
    shifted_a = np.asarray(dimer.monomer_a.coordinates_nm) + 1e-8  # 1e-7 Angstrom: below the rounding
    tiny = SaptInput(dimer=Dimer(monomer_a=dimer.monomer_a.model_copy(update={"coordinates_nm": tuple(
        map(tuple, shifted_a))}), monomer_b=dimer.monomer_b), options={"e_convergence": 1e-8, "maxiter": 100})
    moved = Dimer.from_xyz(WATER_DIMER.replace("1.350625", "1.350725"), split=3)
    assert base.input_hash("psi4", "1.3.2") == tiny.input_hash("psi4", "1.3.2")
    assert base.input_hash("psi4", "1.3.2") != SaptInput(dimer=moved, options=base.options).input_hash(
        "psi4", "1.3.2")
    assert base.input_hash("psi4", "1.3.2") != base.input_hash("psi4", "1.4")
    assert base.input_hash("psi4", "1.3.2") != base.model_copy(update={"basis": "aug-cc-pvdz"}).input_hash(
        "psi4", "1.3.2")
    charged = Dimer.from_xyz(WATER_DIMER, split=3, charges=(0, 0), multiplicities=(1, 1))
    assert SaptInput(dimer=charged).input_hash() == SaptInput(dimer=dimer).input_hash()
