"""Boundary models of the reference-QM stage: molecules, dimers, and the base of inputs and results.

Units at this boundary: coordinates in nm, energies in kJ/mol, charges in e. Engines are fed Angstrom
or bohr and report hartree; the harnesses convert where they write inputs and read outputs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from phyneo_flows.errors import InputError
from phyneo_flows.units import ANGSTROM_TO_NM

ELEMENTS: tuple[str, ...] = (
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br",
    "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te",
    "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm",
    "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn",
)
ATOMIC_NUMBER: dict[str, int] = {symbol: z for z, symbol in enumerate(ELEMENTS, start=1)}

#: geometry is rounded to this many decimals of Angstrom before hashing (1e-5 A)
HASH_DECIMALS = 5
#: monomer atoms closer than this (Angstrom) are an input error
MIN_INTERMOLECULAR_DISTANCE_A = 0.5


def _as_input_error(exc: ValidationError, model: str) -> InputError:
    """The first error of a pydantic ``ValidationError`` as an ``InputError`` naming the field."""
    first = exc.errors()[0]
    original = (first.get("ctx") or {}).get("error")
    location = ".".join(str(part) for part in first.get("loc", ()))
    if isinstance(original, InputError):
        field = original.field
        if location and original.field and not location.endswith(original.field):
            field = f"{location}.{original.field}"
        return InputError(original.message, field=field or model, fix=original.fix)
    return InputError(first.get("msg", str(exc)), field=location or model)


class _Model(BaseModel):
    """A frozen pydantic model whose validation errors are ``InputError``s naming the field."""

    model_config = ConfigDict(frozen=True)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _as_input_error(exc, type(self).__name__) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise _as_input_error(exc, cls.__name__) from None


def _normalise_symbol(symbol: str) -> str:
    text = symbol.strip()
    return text[:1].upper() + text[1:].lower()


class QMMolecule(_Model):
    """A molecule (or ion, or cluster) as the engines see it.

    ``coordinates_nm`` has shape (n_atoms, 3) in nm; ``charge`` in e; ``multiplicity`` is 2S+1.
    Invalid input raises ``InputError`` (a ``ValueError``) naming the field.
    """

    symbols: tuple[str, ...]
    coordinates_nm: tuple[tuple[float, float, float], ...]
    charge: int = 0
    multiplicity: int = Field(1, ge=1)
    name: str | None = None

    @field_validator("symbols", mode="before")
    @classmethod
    def _known_elements(cls, value: Any) -> tuple[str, ...]:
        symbols = tuple(_normalise_symbol(str(s)) for s in value)
        unknown = sorted({s for s in symbols if s not in ATOMIC_NUMBER})
        if unknown:
            raise InputError(f"unknown element(s) {', '.join(unknown)}", field="symbols",
                             fix="use element symbols such as H, C, Li, P, F")
        if not symbols:
            raise InputError("a molecule needs at least one atom", field="symbols")
        return symbols

    @field_validator("coordinates_nm", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> tuple[tuple[float, float, float], ...]:
        array = np.asarray(value, dtype=float)
        if array.ndim != 2 or array.shape[1] != 3:
            raise InputError(f"coordinates must have shape (n, 3), got {array.shape}", field="coordinates_nm")
        if not np.all(np.isfinite(array)):
            raise InputError("coordinates contain NaN or inf", field="coordinates_nm")
        return tuple(tuple(float(x) for x in row) for row in array)

    @model_validator(mode="after")
    def _consistent(self) -> QMMolecule:
        if len(self.symbols) != len(self.coordinates_nm):
            raise InputError(f"{len(self.symbols)} symbols but {len(self.coordinates_nm)} coordinates",
                             field="coordinates_nm")
        electrons = self.n_electrons
        if electrons < 0:
            raise InputError(f"charge {self.charge} leaves {electrons} electrons", field="charge")
        unpaired = self.multiplicity - 1
        if unpaired > electrons or (electrons - unpaired) % 2:
            raise InputError(
                f"{electrons} electrons cannot have multiplicity {self.multiplicity}",
                field="multiplicity" if electrons > 0 or self.multiplicity != 1 else "charge",
                fix="an even electron count needs an odd multiplicity (1, 3, ...), an odd count an even one "
                    "(2, 4, ...); check the charge too")
        return self

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def atomic_numbers(self) -> list[int]:
        return [ATOMIC_NUMBER[s] for s in self.symbols]

    @property
    def n_electrons(self) -> int:
        return sum(self.atomic_numbers) - self.charge

    @property
    def coordinates_angstrom(self) -> np.ndarray:
        """Coordinates in Angstrom, shape (n, 3)."""
        return np.asarray(self.coordinates_nm, dtype=float) / ANGSTROM_TO_NM

    @classmethod
    def from_xyz(cls, path_or_text: str | Path, charge: int = 0, multiplicity: int = 1,
                 name: str | None = None) -> QMMolecule:
        """Read an xyz file (or its text); coordinates in the file are in Angstrom."""
        symbols, coords = read_xyz(path_or_text)
        return cls(symbols=symbols, coordinates_nm=coords * ANGSTROM_TO_NM, charge=charge,
                   multiplicity=multiplicity, name=name)

    def hash_fields(self) -> dict[str, Any]:
        """What identifies this molecule for the cache: geometry rounded to 1e-5 Angstrom."""
        rounded = np.round(self.coordinates_angstrom, HASH_DECIMALS) + 0.0  # +0.0 turns -0.0 into 0.0
        return {"symbols": list(self.symbols), "charge": self.charge, "multiplicity": self.multiplicity,
                "geometry_angstrom": [[f"{x:.{HASH_DECIMALS}f}" for x in row] for row in rounded]}


def read_xyz(path_or_text: str | Path) -> tuple[list[str], np.ndarray]:
    """Symbols and coordinates (Angstrom, shape (n, 3)) of an xyz file or of xyz text."""
    if isinstance(path_or_text, Path) or "\n" not in str(path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise InputError(f"no such xyz file: {path}", field="xyz")
        text = path.read_text()
    else:
        text = str(path_or_text)
    lines = text.strip("\n").splitlines()
    try:
        count = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise InputError("the first line of an xyz file must be the atom count", field="xyz") from None
    body = [line.split() for line in lines[2:2 + count]]
    if len(body) != count or any(len(parts) < 4 for parts in body):
        raise InputError(f"expected {count} atom lines of 'symbol x y z'", field="xyz")
    try:
        coords = np.array([[float(v) for v in parts[1:4]] for parts in body])
    except ValueError:
        raise InputError("atom lines must read 'symbol x y z' with numbers", field="xyz") from None
    return [parts[0] for parts in body], coords.reshape(count, 3)


class Dimer(_Model):
    """Two monomers; their atoms may not come closer than 0.5 Angstrom (else ``InputError``)."""

    monomer_a: QMMolecule
    monomer_b: QMMolecule

    @model_validator(mode="after")
    def _no_overlap(self) -> Dimer:
        a, b = self.monomer_a.coordinates_angstrom, self.monomer_b.coordinates_angstrom
        distances = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
        i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
        if distances[i, j] < MIN_INTERMOLECULAR_DISTANCE_A:
            raise InputError(
                f"atom {i} ({self.monomer_a.symbols[i]}) of monomer A and atom {j} "
                f"({self.monomer_b.symbols[j]}) of monomer B are {distances[i, j]:.3f} A apart "
                f"(< {MIN_INTERMOLECULAR_DISTANCE_A} A)", field="monomer_b",
                fix="check the geometry and the --split index")
        return self

    @property
    def charge(self) -> int:
        return self.monomer_a.charge + self.monomer_b.charge

    @classmethod
    def from_xyz(cls, path_or_text: str | Path, split: int, charges: tuple[int, int] = (0, 0),
                 multiplicities: tuple[int, int] = (1, 1)) -> Dimer:
        """Cut an xyz file (Angstrom) into monomer A (the first ``split`` atoms) and monomer B (the rest)."""
        symbols, coords = read_xyz(path_or_text)
        if not 1 <= split < len(symbols):
            raise InputError(f"split {split} is out of range for {len(symbols)} atoms", field="split",
                             fix=f"give the number of atoms of monomer A, between 1 and {len(symbols) - 1}")
        nm = coords * ANGSTROM_TO_NM
        return cls(
            monomer_a=QMMolecule(symbols=symbols[:split], coordinates_nm=nm[:split], charge=charges[0],
                                 multiplicity=multiplicities[0]),
            monomer_b=QMMolecule(symbols=symbols[split:], coordinates_nm=nm[split:], charge=charges[1],
                                 multiplicity=multiplicities[1]))


OptionValue = str | int | float | bool


class QMInput(_Model):
    """Base of every engine input: a task, a method, a basis, engine options, and molecules.

    Subclasses say which molecules they hold (``molecules()``); ``hash_fields()`` is what the cache hashes.
    """

    task: str
    method: str
    basis: str
    options: dict[str, OptionValue] = Field(default_factory=dict)

    def molecules(self) -> list[QMMolecule]:
        raise NotImplementedError

    def hash_fields(self) -> dict[str, Any]:
        return {"task": self.task, "method": self.method.lower(), "basis": self.basis.lower(),
                "options": sorted((str(k).lower(), str(v).lower()) for k, v in self.options.items()),
                "molecules": [m.hash_fields() for m in self.molecules()]}

    def input_hash(self, engine: str = "", version: str = "") -> str:
        """sha256 of (engine, version, hash_fields()) as canonical JSON."""
        payload = {"engine": engine, "version": version, **self.hash_fields()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class QMResult(BaseModel):
    """Base of every engine result; energies in kJ/mol."""

    engine: str
    version: str
    input_hash: str
    wall_time_s: float | None = None
