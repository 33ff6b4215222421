"""Units: the one internal system and the parsing of quantities written with units.

Internal units (OpenMM's and DMFF's): length nm, time ps, energy kJ/mol, mass amu (g/mol), charge e,
temperature K, pressure bar. Hartree and bohr are converted where QM output is read, nowhere else.

Quantities in input files are strings such as ``"298.15 K"`` or ``"1.0 mol/L"``; a bare number takes
the default unit that the field documents.
"""

from __future__ import annotations

import re

from phyneo_flows.errors import UnitError

# CODATA 2018
AVOGADRO = 6.02214076e23  # 1/mol
BOLTZMANN_KJ_MOL_K = 0.00831446261815324  # kJ/(mol K)
HARTREE_TO_KJ_MOL = 2625.4996394798254
BOHR_TO_NM = 0.0529177210903
BOHR_TO_ANGSTROM = 0.529177210903
ANGSTROM_TO_NM = 0.1
KCAL_TO_KJ = 4.184
# Coulomb constant 1/(4 pi eps0) in kJ/mol nm e^-2 (OpenMM's ONE_4PI_EPS0)
ONE_4PI_EPS0 = 138.93545764438198
BAR_NM3_TO_KJ_MOL = 0.06022140760  # 1 bar nm^3 in kJ/mol

# dimension -> {unit spelling: factor to the internal unit of that dimension}
_UNITS: dict[str, dict[str, float]] = {
    "temperature": {"K": 1.0, "kelvin": 1.0},
    "pressure": {"bar": 1.0, "atm": 1.01325, "Pa": 1e-5, "kPa": 1e-2, "MPa": 10.0, "GPa": 1e4},
    "molarity": {"mol/L": 1.0, "M": 1.0, "mol/l": 1.0, "mol/dm3": 1.0, "mmol/L": 1e-3, "mM": 1e-3},
    "molality": {"mol/kg": 1.0, "m": 1.0, "mmol/kg": 1e-3},
    "density": {"g/cm3": 1.0, "g/cm^3": 1.0, "g/mL": 1.0, "g/ml": 1.0, "kg/m3": 1e-3, "kg/L": 1.0},
    "length": {"nm": 1.0, "A": 0.1, "Å": 0.1, "angstrom": 0.1, "pm": 1e-3, "bohr": BOHR_TO_NM},
    "time": {"ps": 1.0, "fs": 1e-3, "ns": 1e3},
    "energy": {"kJ/mol": 1.0, "kcal/mol": KCAL_TO_KJ, "hartree": HARTREE_TO_KJ_MOL, "Eh": HARTREE_TO_KJ_MOL},
}
# Celsius is affine, handled apart.
_CELSIUS = {"degC", "°C", "C"}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def units_of(dimension: str) -> list[str]:
    """The unit spellings accepted for ``dimension``."""
    extra = sorted(_CELSIUS) if dimension == "temperature" else []
    return list(_UNITS[dimension]) + extra


def parse_quantity(value: str | float | int, dimensions: str | tuple[str, ...], *, field: str,
                   default_unit: str | None = None) -> tuple[float, str]:
    """Parse ``value`` into (number in internal units, dimension).

    ``dimensions`` lists the dimensions the field accepts (a concentration accepts molarity or
    molality); a bare number takes ``default_unit``. Raises ``UnitError`` naming ``field``.
    """
    dims = (dimensions,) if isinstance(dimensions, str) else tuple(dimensions)
    if isinstance(value, bool):
        raise UnitError(f"expected a number with a unit, got {value!r}", field=field)
    if isinstance(value, int | float):
        number, unit = float(value), default_unit
        if unit is None:
            raise UnitError("a bare number needs a unit here", field=field,
                            fix=f"write it as e.g. '{value} {units_of(dims[0])[0]}'")
    else:
        match = _NUMBER.match(str(value))
        if not match:
            raise UnitError(f"cannot read {value!r} as a number with a unit", field=field,
                            fix=f"write e.g. '1.0 {units_of(dims[0])[0]}'")
        number = float(match.group(1))
        unit = match.group(2) or default_unit
        if not unit:
            raise UnitError(f"{value!r} has no unit", field=field,
                            fix=f"add one of {', '.join(units_of(dims[0]))}")
    for dim in dims:
        if dim == "temperature" and unit in _CELSIUS:
            return number + 273.15, dim
        table = _UNITS[dim]
        if unit in table:
            return number * table[unit], dim
    accepted = ", ".join(u for d in dims for u in units_of(d))
    raise UnitError(f"unknown unit {unit!r}", field=field, fix=f"use one of: {accepted}")
