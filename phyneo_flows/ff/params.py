"""The parameter file: a versioned, human-readable JSON with a unit and a source for every value.

Layout (format ``phyneo-ff``, version 1)::

    {"format": "phyneo-ff", "version": 1, "description": "...",
     "molecules": {"EC": {
         "smiles": "O=C1OCCO1", "symbols": [...], "atom_types": [...], "bonds": [[0, 1], ...],
         "frames": [{"axis": "ZThenX", "z": 1, "x": 2}, ...],          # one per atom, indices in the molecule
         "types": {"EC_O1": {"charge": {"value": -0.55, "unit": "e", "source": "..."}, ...}},
         "bonded": {"bonds": [{"atoms": [0, 1], "r0": {...}, "k": {...}}],
                    "angles": [...], "torsions": [...]}}}}

Per atom type: ``charge`` (e), ``dipole`` (e nm, local frame), ``quadrupole`` (e nm^2, local frame, 3x3,
OpenMM's convention: the traceless Buckingham quadrupole divided by 3), ``polarizability`` (nm^3),
``thole`` (dimensionless), ``C6`` (kJ/mol nm^6), ``C8`` (kJ/mol nm^8), ``C10`` (kJ/mol nm^10), ``B`` (1/nm)
and ``A_exchange``, ``A_electrostatics``, ``A_induction``, ``A_dispersion``, ``A_dhf`` ((kJ/mol)^0.5).
Frames follow OpenMM's ``AmoebaMultipoleForce`` axis types: ``ZThenX``, ``Bisector``, ``ZOnly`` and
``NoAxisType`` (see docs/ff.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from phyneo_flows.errors import InputError, UnitError

FORMAT = "phyneo-ff"
VERSION = 1

SLATER_COMPONENTS = ("exchange", "electrostatics", "induction", "dispersion", "dhf")
# the sign of each Slater component: exchange is repulsive, the others attractive
SLATER_SIGNS = {"exchange": 1.0, "electrostatics": -1.0, "induction": -1.0, "dispersion": -1.0, "dhf": -1.0}

# the one unit each per-type quantity is written in
TYPE_UNITS: dict[str, str] = {
    "charge": "e",
    "dipole": "e nm",
    "quadrupole": "e nm^2",
    "polarizability": "nm^3",
    "thole": "1",
    "C6": "kJ/mol nm^6",
    "C8": "kJ/mol nm^8",
    "C10": "kJ/mol nm^10",
    "B": "1/nm",
    **{f"A_{c}": "(kJ/mol)^0.5" for c in SLATER_COMPONENTS},
}
# other spellings accepted on reading, with the factor to the unit above
_ALT_UNITS: dict[str, dict[str, float]] = {
    "polarizability": {"A^3": 1e-3, "angstrom^3": 1e-3},
    "dipole": {"e A": 0.1, "D": 0.0020819434},
    "B": {"1/A": 10.0},
}
BONDED_UNITS = {
    "r0": "nm",
    "k_bond": "kJ/mol/nm^2",
    "theta0": "rad",
    "k_angle": "kJ/mol/rad^2",
    "k_torsion": "kJ/mol",
    "phase": "rad",
    "periodicity": "1",
}

AXIS_TYPES = ("ZThenX", "Bisector", "ZBisect", "ThreeFold", "ZOnly", "NoAxisType")


class Value(BaseModel):
    """One number (or vector/matrix) with its unit and where it came from."""

    value: float | list[float] | list[list[float]]
    unit: str
    source: str = Field(..., min_length=1)


class Frame(BaseModel):
    """The local frame of one atom (OpenMM axis-type names; indices within the molecule, -1 for none)."""

    axis: Literal["ZThenX", "Bisector", "ZBisect", "ThreeFold", "ZOnly", "NoAxisType"]
    z: int = -1
    x: int = -1
    y: int = -1

    @model_validator(mode="after")
    def _atoms_present(self) -> Frame:
        need = {
            "ZThenX": "zx",
            "Bisector": "zx",
            "ZBisect": "zxy",
            "ThreeFold": "zxy",
            "ZOnly": "z",
            "NoAxisType": "",
        }[self.axis]
        for name in need:
            if getattr(self, name) < 0:
                raise InputError(
                    f"axis {self.axis} needs atom {name}",
                    field=f"frames.{name}",
                    fix="give the index of the defining neighbour",
                )
        return self


class TypeParams(BaseModel):
    """All per-atom-type parameters of one type (every key of TYPE_UNITS)."""

    charge: Value
    dipole: Value
    quadrupole: Value
    polarizability: Value
    thole: Value
    C6: Value
    C8: Value
    C10: Value
    B: Value
    A_exchange: Value
    A_electrostatics: Value
    A_induction: Value
    A_dispersion: Value
    A_dhf: Value

    def number(self, key: str) -> np.ndarray:
        """The value of ``key`` in the internal unit (TYPE_UNITS)."""
        item: Value = getattr(self, key)
        arr = np.asarray(item.value, dtype=float)
        if item.unit == TYPE_UNITS[key]:
            return arr
        factor = _ALT_UNITS.get(key, {}).get(item.unit)
        if factor is None:
            raise UnitError(f"unit {item.unit!r} for {key}", field=key, fix=f"write it in {TYPE_UNITS[key]}")
        return arr * factor

    @field_validator("dipole")
    @classmethod
    def _dipole_shape(cls, v: Value) -> Value:
        if np.asarray(v.value).shape != (3,):
            raise InputError("a dipole has 3 components", field="dipole", fix="write [x, y, z]")
        return v

    @field_validator("quadrupole")
    @classmethod
    def _quad_shape(cls, v: Value) -> Value:
        q = np.asarray(v.value, dtype=float)
        if q.shape != (3, 3):
            raise InputError("a quadrupole is a 3x3 matrix", field="quadrupole", fix="write [[xx,xy,xz],...]")
        if not np.allclose(q, q.T, atol=1e-12) or abs(np.trace(q)) > 1e-8 * max(1.0, np.abs(q).max()):
            raise InputError(
                "the quadrupole must be symmetric and traceless",
                field="quadrupole",
                fix="subtract the trace / 3 from the diagonal",
            )
        return v


class BondTerm(BaseModel):
    """Harmonic bond E = k/2 (r - r0)^2 (OpenMM's HarmonicBondForce)."""

    atoms: tuple[int, int]
    r0: Value
    k: Value


class AngleTerm(BaseModel):
    """Harmonic angle E = k/2 (theta - theta0)^2 (OpenMM's HarmonicAngleForce)."""

    atoms: tuple[int, int, int]
    theta0: Value
    k: Value


class TorsionTerm(BaseModel):
    """Periodic torsion E = k (1 + cos(n phi - phase)) (OpenMM's PeriodicTorsionForce)."""

    atoms: tuple[int, int, int, int]
    periodicity: int
    phase: Value
    k: Value


class WallTerm(BaseModel):
    """One-sided harmonic wall E = k/2 (r0 - r)^2 for r < r0, zero beyond (OpenMM: a CustomBondForce
    ``0.5*k*min(0, r - r0)^2``): the intramolecular steric floor between atoms four or more bonds apart."""

    atoms: tuple[int, int]
    r0: Value
    k: Value


class Bonded(BaseModel):
    bonds: list[BondTerm] = []
    angles: list[AngleTerm] = []
    torsions: list[TorsionTerm] = []
    walls: list[WallTerm] = []


class MoleculeParams(BaseModel):
    """The parameters of one molecule (species); atom order is the species template's."""

    smiles: str
    symbols: list[str]
    atom_types: list[str]
    bonds: list[tuple[int, int]]
    frames: list[Frame]
    types: dict[str, TypeParams]
    bonded: Bonded = Bonded()

    @model_validator(mode="after")
    def _consistent(self) -> MoleculeParams:
        n = len(self.symbols)
        if len(self.atom_types) != n or len(self.frames) != n:
            raise InputError(
                f"{n} atoms but {len(self.atom_types)} types and {len(self.frames)} frames",
                field="atom_types",
                fix="give one type and one frame per atom",
            )
        missing = sorted(set(self.atom_types) - set(self.types))
        if missing:
            raise InputError(f"no parameters for types {missing}", field="types", fix="add them")
        for k, f in enumerate(self.frames):
            for idx in (f.z, f.x, f.y):
                if idx >= n or idx == k:
                    raise InputError(
                        f"frame of atom {k} names atom {idx}",
                        field="frames",
                        fix="frame atoms are other atoms of the same molecule",
                    )
        charge = sum(float(self.types[t].number("charge")) for t in self.atom_types)
        if abs(charge - round(charge)) > 1e-6:
            raise InputError(
                f"molecule charge {charge:.6f} is not an integer",
                field="types.charge",
                fix="make the charges sum to the formal charge",
            )
        return self

    def type_array(self, key: str) -> np.ndarray:
        """Per-atom array of ``key`` in internal units, shape (n_atoms, *value shape)."""
        return np.stack([self.types[t].number(key) for t in self.atom_types])


class ForceFieldParams(BaseModel):
    """A whole parameter file."""

    format: Literal["phyneo-ff"] = FORMAT
    version: int = VERSION
    description: str = ""
    provenance: dict[str, Any] = {}
    units: dict[str, str] = Field(default_factory=lambda: dict(TYPE_UNITS))
    molecules: dict[str, MoleculeParams]

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != VERSION:
            raise InputError(
                f"parameter file version {v} is not supported",
                field="version",
                fix=f"convert it to version {VERSION}",
            )
        return v

    def molecule(self, name: str) -> MoleculeParams:
        if name not in self.molecules:
            raise InputError(
                f"no parameters for molecule {name!r}",
                field="molecules",
                fix=f"add it; the file has {sorted(self.molecules)}",
            )
        return self.molecules[name]


def load_params(path: str | Path) -> ForceFieldParams:
    """Read a parameter file (a JSON file, or a directory holding ``params.json``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "params.json"
    if not p.exists():
        raise InputError(f"{p} does not exist", field="--params", fix="give a phyneo-ff JSON file")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} is not valid JSON: {exc}", field="--params") from exc
    if data.get("format") != FORMAT:
        raise InputError(f"{p} is not a {FORMAT} file", field="format", fix=f'it needs "format": "{FORMAT}"')
    try:
        return ForceFieldParams.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise InputError(err["msg"].removeprefix("Value error, "), field=where,
                         fix=f"correct {p.name}") from exc


def save_params(params: ForceFieldParams, path: str | Path) -> Path:
    """Write ``params`` as indented JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(params.model_dump(mode="json"), indent=1) + "\n")
    return p


def value(v: Any, key: str, source: str) -> Value:
    """A Value in the canonical unit of per-type ``key``."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return Value(value=v, unit=TYPE_UNITS[key], source=source)
