"""Packed boxes, checked by reading the written PDB back independently."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from phyneo_flows.chem import build_box, build_molecule
from phyneo_flows.errors import BoxPackingError
from phyneo_flows.formulation import formulation_from_dict, load_formulation
from phyneo_flows.units import AVOGADRO

MASS = {"H": 1.008, "C": 12.011, "O": 15.999, "F": 18.998, "P": 30.974, "Li": 6.94}


def read_pdb(path):
    cell, atoms, res, bonds = None, [], [], set()
    for line in open(path):
        if line.startswith("CRYST1"):
            cell = float(line[6:15])
        elif line.startswith("HETATM"):
            atoms.append((line[76:78].strip(), [float(line[30:38]), float(line[38:46]), float(line[46:54])]))
            res.append(int(line[22:26]))
        elif line.startswith("CONECT"):
            fields = [int(line[i:i + 5]) for i in range(6, len(line.rstrip()), 5)]
            bonds |= {tuple(sorted((fields[0] - 1, j - 1))) for j in fields[1:]}
    return cell, [a[0] for a in atoms], np.array([a[1] for a in atoms]), np.array(res), sorted(bonds)


@pytest.fixture(scope="module")
def lp30(tmp_path_factory):
    box = build_box(load_formulation("workflows/lipf6_ec_dmc.yaml"), n_atoms=3000)
    path = tmp_path_factory.mktemp("box") / "box.pdb"
    box.write_pdb(path)
    return box, path


def test_box_realises_one_molar_lipf6(lp30):
    _, path = lp30
    cell_a, symbols, _, _, _ = read_pdb(path)
    volume_l = (cell_a * 1e-8) ** 3 / 1000.0
    n_li = symbols.count("Li")
    assert symbols.count("P") == n_li > 0
    assert n_li / AVOGADRO / volume_l == pytest.approx(1.0, rel=0.05)
    density = sum(MASS[s] for s in symbols) / AVOGADRO / (cell_a * 1e-8) ** 3
    assert 1.2 < density < 1.35
    assert abs(len(symbols) - 3000) <= 20


def test_molecules_are_intact(lp30):
    box, path = lp30
    _, symbols, xyz, res, bonds = read_pdb(path)
    assert len(bonds) == len(box.bonds)
    # every bond joins atoms of one residue, with the conformer's length
    offset = 0
    for name in box.molecule_species:
        t = box.templates[name]
        for i, j in t.bonds:
            d = np.linalg.norm(xyz[offset + i] - xyz[offset + j]) / 10.0
            assert d == pytest.approx(np.linalg.norm(t.positions_nm[i] - t.positions_nm[j]), abs=2e-4)
            assert res[offset + i] == res[offset + j]
        offset += t.n_atoms


def test_no_close_contacts_between_molecules(lp30):
    _, path = lp30
    cell, _, xyz, res, _ = read_pdb(path)
    tree = cKDTree(np.mod(xyz, cell), boxsize=cell)
    pairs = tree.query_pairs(1.7, output_type="ndarray")
    assert not np.any(res[pairs[:, 0]] != res[pairs[:, 1]])


def test_box_as_ase_atoms(lp30):
    box, _ = lp30
    atoms = box.to_ase()
    assert len(atoms) == box.n_atoms and atoms.cell[0, 0] == pytest.approx(box.box_nm * 10)
    assert atoms.get_array("mol_index").max() == len(box.molecule_species) - 1


def test_same_seed_same_box():
    f = load_formulation("workflows/dmc.yaml")
    a, b = build_box(f, n_atoms=120), build_box(f, n_atoms=120)
    assert np.array_equal(a.positions_nm, b.positions_nm)


def test_unpackable_box_is_a_clear_error():
    f = formulation_from_dict({"name": "dense", "solvents": [{"species": "DMC", "fraction": 1}],
                               "density": "3 g/cm3", "size": {"atoms": 240}})
    with pytest.raises(BoxPackingError) as err:
        build_box(f)
    assert err.value.field == "density" and "lower the density" in str(err.value)


def test_template_atom_types_travel_into_the_box(lp30):
    box, _ = lp30
    ec = build_molecule("EC")
    first = box.molecule_species.index("EC")
    start = int(np.flatnonzero(box.molecule_index == first)[0])
    assert box.atom_types[start:start + ec.n_atoms] == ec.atom_types
