"""The parameter file: validation of units, shapes and charges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phyneo_flows.errors import InputError
from phyneo_flows.ff.params import TYPE_UNITS, load_params, save_params

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc" / "params.json"


def test_fixture_loads_with_units_and_sources(tmp_path):
    p = load_params(FIXTURE)
    assert set(p.molecules) == {"EC", "DMC", "Li+", "PF6-"}
    for mol in p.molecules.values():
        for t in mol.types.values():
            for key, unit in TYPE_UNITS.items():
                assert getattr(t, key).unit == unit and getattr(t, key).source
    again = load_params(save_params(p, tmp_path / "p.json"))
    assert again == p


def _mutate(tmp_path, fn):
    data = json.loads(FIXTURE.read_text())
    fn(data)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    return f


def test_non_integer_molecule_charge_is_refused(tmp_path):
    def bump(d):
        d["molecules"]["EC"]["types"]["EC_O1"]["charge"]["value"] += 0.1

    with pytest.raises(InputError, match="not an integer"):
        load_params(_mutate(tmp_path, bump))


def test_quadrupole_with_trace_is_refused(tmp_path):
    def trace(d):
        d["molecules"]["EC"]["types"]["EC_O1"]["quadrupole"]["value"] = [[1e-4, 0, 0], [0, 0, 0], [0, 0, 0]]

    with pytest.raises(InputError, match="traceless"):
        load_params(_mutate(tmp_path, trace))


def test_unknown_unit_is_refused(tmp_path):
    def unit(d):
        d["molecules"]["EC"]["types"]["EC_O1"]["polarizability"]["unit"] = "bohr^3"

    p = load_params(_mutate(tmp_path, unit))
    with pytest.raises(InputError):
        p.molecules["EC"].type_array("polarizability")


def test_angstrom_polarizability_is_converted(tmp_path):
    def unit(d):
        t = d["molecules"]["EC"]["types"]["EC_O1"]["polarizability"]
        t["value"], t["unit"] = t["value"] * 1e3, "A^3"

    p = load_params(_mutate(tmp_path, unit))
    ref = load_params(FIXTURE)
    assert p.molecules["EC"].type_array("polarizability") == pytest.approx(
        ref.molecules["EC"].type_array("polarizability")
    )
