import pytest

from phyneo_flows.errors import UnitError
from phyneo_flows.units import parse_quantity


@pytest.mark.parametrize(
    ("text", "dims", "expected"),
    [
        ("298.15 K", "temperature", 298.15),
        ("25 degC", "temperature", 298.15),
        ("1 atm", "pressure", 1.01325),
        ("101325 Pa", "pressure", 1.01325),
        ("1.0 mol/L", ("molarity", "molality"), 1.0),
        ("500 mM", ("molarity", "molality"), 0.5),
        ("1.2 mol/kg", ("molarity", "molality"), 1.2),
        ("1000 kg/m3", "density", 1.0),
    ],
)
def test_parse_quantity_converts_to_internal_units(text, dims, expected):
    value, _ = parse_quantity(text, dims, field="x")
    assert value == pytest.approx(expected)


def test_bare_number_takes_the_default_unit():
    assert parse_quantity(300, "temperature", field="t", default_unit="K") == (300.0, "temperature")


def test_concentration_kind_is_reported():
    assert parse_quantity("2 m", ("molarity", "molality"), field="c")[1] == "molality"


@pytest.mark.parametrize("bad", ["1 furlong", "K 300", "", "1 mol/m3"])
def test_unknown_unit_names_field_and_accepted_units(bad):
    with pytest.raises(UnitError) as err:
        parse_quantity(bad, ("molarity", "molality"), field="salts[0].concentration")
    assert "salts[0].concentration" in str(err.value)
