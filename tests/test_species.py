import pytest
from rdkit import Chem

from phyneo_flows.chem import build_molecule
from phyneo_flows.errors import SpeciesError
from phyneo_flows.species import get_species, library

REQUIRED = ["EC", "PC", "DMC", "EMC", "DEC", "FEC", "VC", "DME", "diglyme", "Li+", "Na+", "PF6-", "BF4-",
            "FSI-", "TFSI-", "DFOB-"]


def test_library_holds_the_common_electrolyte_species():
    assert set(REQUIRED) <= set(library())


def test_library_formulas_and_charges():
    # molecular formulas from the structures (textbook): EC C3H4O3, DMC C3H6O3, TFSI C2F6NO4S2 (-1)
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    assert CalcMolFormula(Chem.MolFromSmiles(get_species("EC").smiles)) == "C3H4O3"
    assert CalcMolFormula(Chem.MolFromSmiles(get_species("DMC").smiles)) == "C3H6O3"
    assert CalcMolFormula(Chem.MolFromSmiles(get_species("TFSI-").smiles)) == "C2F6NO4S2-"
    assert get_species("PF6-").charge == -1
    assert get_species("Li+").charge == 1
    assert get_species("DFOB-").charge == -1
    assert get_species("dmc").molar_mass_g_mol == pytest.approx(90.08, abs=0.01)


def test_aliases_and_smiles_find_library_entries():
    assert get_species("dimethyl carbonate").name == "DMC"
    assert get_species("COC(=O)OC").name == "DMC"
    assert get_species("C(=O)(OC)OC").name == "DMC"  # another spelling of the same molecule
    assert get_species("G2").name == "diglyme"


def test_any_other_species_by_smiles():
    sp = get_species("CC#N")
    assert not sp.from_library and sp.charge == 0 and sp.n_atoms == 6


@pytest.mark.parametrize("bad", ["C1CC", "XYZ", "C(C", ""])
def test_bad_species_errors_name_the_field(bad):
    with pytest.raises(SpeciesError) as err:
        get_species(bad)
    assert "species" in str(err.value)


def test_symmetry_equivalent_atoms_share_a_type():
    ec = build_molecule("EC")
    types = dict(zip(range(ec.n_atoms), ec.atom_types, strict=True))
    # EC: carbonyl O, carbonyl C, two ring O, two CH2 carbons, four H -> 5 types
    assert len(set(ec.atom_types)) == 5
    hs = [types[i] for i, s in enumerate(ec.symbols) if s == "H"]
    assert len(set(hs)) == 1
    dmc = build_molecule("DMC")
    assert len(set(dmc.atom_types)) == 5  # CH3 C, ether O, carbonyl C, carbonyl O, H
    pf6 = build_molecule("PF6-")
    assert sorted(set(pf6.atom_types)) == ["PF6-_F1", "PF6-_P1"]


def test_conformers_are_reproducible_and_sane():
    a, b = build_molecule("DMC"), build_molecule("DMC")
    assert (a.positions_nm == b.positions_nm).all()
    import numpy as np

    for i, j in a.bonds:
        d = np.linalg.norm(a.positions_nm[i] - a.positions_nm[j])
        assert 0.09 < d < 0.16
    pf6 = build_molecule("PF6-")
    p = pf6.symbols.index("P")
    d = [np.linalg.norm(pf6.positions_nm[k] - pf6.positions_nm[p]) for k in range(7) if k != p]
    assert np.ptp(d) < 1e-6  # octahedral: six equal P-F bonds
