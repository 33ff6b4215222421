import textwrap

import pytest

from phyneo_flows.errors import InputError, SpeciesError, UnitError
from phyneo_flows.formulation import compose, formulation_from_dict, load_formulation
from phyneo_flows.units import AVOGADRO

ISSUE_EXAMPLE = textwrap.dedent("""\
    name: lipf6_ec_dmc
    temperature: 298.15 K
    pressure: 1 bar
    solvents:
      - {species: EC, fraction: 0.5}
      - {species: DMC, fraction: 0.5}
    solvent_fraction_basis: mass        # mole | mass | volume
    salts:
      - {cation: Li+, anion: PF6-, concentration: 1.0 mol/L}
    size: {atoms: 3000}
    """)


def base() -> dict:
    return {"name": "t", "temperature": "298.15 K", "solvents": [{"species": "EC", "fraction": 0.5},
                                                                  {"species": "DMC", "fraction": 0.5}],
            "solvent_fraction_basis": "mass",
            "salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "1.0 mol/L"}],
            "size": {"atoms": 3000}}


def test_the_issue_example_works_as_written(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(ISSUE_EXAMPLE)
    f = load_formulation(path)
    assert f.temperature_k == 298.15 and f.pressure_bar == 1.0
    assert f.salts[0].concentration.kind == "molarity"
    assert [s.name for s in f.species()] == ["EC", "DMC", "Li+", "PF6-"]


def test_shipped_formulations_load():
    assert load_formulation("workflows/lipf6_ec_dmc.yaml").name == "lipf6_ec_dmc"
    dmc = load_formulation("workflows/dmc.yaml")
    assert dmc.salts == [] and dmc.temperature_k == 298.15


def test_counts_are_whole_electroneutral_and_realise_the_recipe():
    c = compose(formulation_from_dict(base()))
    counts = {x.species: x.count for x in c.counts}
    assert c.total_charge == 0 and counts["Li+"] == counts["PF6-"]
    assert abs(c.n_atoms - 3000) <= 20
    # EC:DMC 1:1 by mass, within one molecule
    ratio = counts["EC"] * 88.062 / (counts["DMC"] * 90.078)
    assert ratio == pytest.approx(1.0, abs=90.0 / (counts["DMC"] * 90.078))
    # the realised molarity, recomputed from counts, mass and density
    mass_g = sum(x.count * x.molar_mass_g_mol for x in c.counts) / AVOGADRO
    litres = mass_g / c.density_g_cm3 / 1000.0
    assert counts["Li+"] / AVOGADRO / litres == pytest.approx(c.salts[0].realised)
    assert abs(c.salts[0].realised - 1.0) < 0.05


def test_starting_density_is_plausible_for_lp30():
    # measured 1.0 M LiPF6 in EC:DMC 1:1 w/w: about 1.29 g/cm3 (Landesfeind & Gasteiger 2019)
    c = compose(formulation_from_dict(base()))
    assert 1.20 < c.density_g_cm3 < 1.35


def test_molality_counts_against_solvent_mass():
    d = base()
    d["salts"][0]["concentration"] = "1.5 mol/kg"
    c = compose(formulation_from_dict(d))
    counts = {x.species: x for x in c.counts}
    solvent_kg = sum(x.count * x.molar_mass_g_mol for x in c.counts if x.charge == 0) / AVOGADRO / 1000
    assert counts["Li+"].count / AVOGADRO / solvent_kg == pytest.approx(1.5, rel=0.05)


def test_mole_and_volume_bases():
    d = base() | {"solvent_fraction_basis": "mole", "salts": [], "size": {"molecules": 200}}
    counts = {x.species: x.count for x in compose(formulation_from_dict(d)).counts}
    assert counts == {"EC": 100, "DMC": 100}
    d["solvent_fraction_basis"] = "volume"
    counts = {x.species: x.count for x in compose(formulation_from_dict(d)).counts}
    # equal volumes: moles scale as density / molar mass
    expected = (1.321 / 88.062) / (1.063 / 90.078)
    assert counts["EC"] / counts["DMC"] == pytest.approx(expected, rel=0.02)


def test_divalent_salt_balances_itself():
    d = base() | {"salts": [{"cation": "[Mg+2]", "anion": "TFSI-", "concentration": 0.5}]}
    c = compose(formulation_from_dict(d))
    counts = {x.species: x.count for x in c.counts}
    assert counts["TFSI-"] == 2 * counts["[Mg+2]"] and c.total_charge == 0


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"solvents": [{"species": "C1CC", "fraction": 1}]}, SpeciesError, "solvents[0].species"),
        ({"solvents": [{"species": "ethylene carbonat", "fraction": 1}]}, SpeciesError, "solvents[0].species"),
        ({"salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "-1 mol/L"}]}, InputError,
         "salts[0].concentration"),
        ({"salts": [{"cation": "Li+", "anion": "PF6-", "concentration": 0}]}, InputError, "salts[0].concentration"),
        ({"solvents": [{"species": "EC", "fraction": 0}, {"species": "DMC", "fraction": -1}]}, InputError,
         "solvents[0].fraction"),
        ({"temperature": "300 F"}, UnitError, "temperature"),
        ({"salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "1 mol/m3"}]}, UnitError,
         "salts[0].concentration"),
        ({"salts": [{"cation": "PF6-", "anion": "Li+", "concentration": 1}]}, InputError, "salts[0]"),
        ({"salts": [{"cation": "Li+", "anion": "PF6-", "concentration": 1, "stoichiometry": [1, 2]}]},
         InputError, "salts[0]"),
        ({"solvents": [{"species": "Li+", "fraction": 1}]}, InputError, "solvents[0].species"),
        ({"size": {"atoms": 20}}, InputError, "size.atoms"),
        ({"colour": "blue"}, InputError, "colour"),
    ],
)
def test_bad_input_names_the_field(change, error, field):
    with pytest.raises(error) as err:
        compose(formulation_from_dict(base() | change))
    assert err.value.field == field
    assert err.value.fix


def test_too_small_for_one_formula_unit():
    d = base() | {"salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "0.01 mol/L"}]}
    with pytest.raises(InputError, match="formula unit"):
        compose(formulation_from_dict(d))
