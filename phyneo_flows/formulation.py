"""Formulations: what a chemist writes, and the whole-number molecule counts that realise it.

A formulation file (YAML) names solvents with their ratio, salts with their concentration, the
temperature, the pressure and the target size of the simulation box. Quantities are strings with units
(``"298.15 K"``, ``"1.0 mol/L"``); bare numbers take the default unit each field documents. See
docs/formulation.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from phyneo_flows.errors import InputError
from phyneo_flows.species import Species, get_species
from phyneo_flows.units import AVOGADRO, parse_quantity

DEFAULT_SOLVENT_DENSITY_G_CM3 = 1.0


def positive_quantity(value: Any, dimension: str, default_unit: str) -> float:
    """A quantity of ``dimension`` in internal units that must be above zero (the field is ``dimension``)."""
    number, _ = parse_quantity(value, dimension, field=dimension, default_unit=default_unit)
    if number <= 0:
        raise InputError(f"{dimension} must be positive, got {value!r}")
    return number


class Concentration(BaseModel):
    """A salt concentration: molarity (mol per litre of solution) or molality (mol per kg of solvent)."""

    value: float
    kind: Literal["molarity", "molality"]

    @property
    def unit(self) -> str:
        return "mol/L" if self.kind == "molarity" else "mol/kg"

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


class SolventComponent(BaseModel):
    """One solvent and its share of the solvent mixture (on ``solvent_fraction_basis``)."""

    model_config = ConfigDict(extra="forbid")

    species: str
    fraction: float = Field(description="share of the solvent mixture, any positive scale")
    density: float | None = Field(None, description="pure-liquid density in g/cm3 (default: library)")

    @field_validator("species")
    @classmethod
    def _known(cls, value: str) -> str:
        sp = get_species(value)
        if sp.charge != 0:
            raise InputError(f"{value!r} is charged (charge {sp.charge:+d})",
                             fix="put ions under 'salts' as cation/anion")
        return value

    @field_validator("fraction")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise InputError(f"fraction must be positive, got {value}",
                             fix="give each solvent a positive share; ratios need not sum to 1")
        return value

    @field_validator("density", mode="before")
    @classmethod
    def _density(cls, value: Any) -> float | None:
        return None if value is None else positive_quantity(value, "density", "g/cm3")

    @property
    def resolved(self) -> Species:
        return get_species(self.species)

    @property
    def density_g_cm3(self) -> float:
        return self.density or self.resolved.density_g_cm3 or DEFAULT_SOLVENT_DENSITY_G_CM3


class SaltComponent(BaseModel):
    """A salt: a cation, an anion and a concentration (bare numbers are mol/L)."""

    model_config = ConfigDict(extra="forbid")

    cation: str
    anion: str
    concentration: Concentration
    stoichiometry: tuple[int, int] | None = Field(
        None, description="ions per formula unit (cations, anions); default from the charges")

    @field_validator("concentration", mode="before")
    @classmethod
    def _concentration(cls, value: Any) -> Any:
        if isinstance(value, Concentration | dict):
            return value
        number, dim = parse_quantity(value, ("molarity", "molality"), field="concentration",
                                     default_unit="mol/L")
        if not number > 0:
            raise InputError(f"concentration must be positive, got {value!r}",
                             fix="give a positive molarity (mol/L) or molality (mol/kg); drop the salt "
                                 "for a pure solvent")
        return Concentration(value=number, kind=dim)

    @model_validator(mode="after")
    def _balance(self) -> SaltComponent:
        cat, an = get_species(self.cation, field="cation"), get_species(self.anion, field="anion")
        if cat.charge <= 0:
            raise InputError(f"cation {self.cation!r} has charge {cat.charge:+d}",
                             fix="the cation must be positively charged, e.g. Li+")
        if an.charge >= 0:
            raise InputError(f"anion {self.anion!r} has charge {an.charge:+d}",
                             fix="the anion must be negatively charged, e.g. PF6-")
        if self.stoichiometry is not None:
            n_cat, n_an = self.stoichiometry
            if n_cat <= 0 or n_an <= 0 or n_cat * cat.charge + n_an * an.charge != 0:
                raise InputError(
                    f"stoichiometry {list(self.stoichiometry)} of {self.cation}/{self.anion} is not neutral",
                    fix=f"use {list(self.ions_per_formula_unit(cat, an))} or leave it out")
        return self

    @staticmethod
    def ions_per_formula_unit(cat: Species, an: Species) -> tuple[int, int]:
        g = math.gcd(cat.charge, -an.charge)
        return -an.charge // g, cat.charge // g

    @property
    def stoich(self) -> tuple[int, int]:
        if self.stoichiometry is not None:
            return self.stoichiometry
        return self.ions_per_formula_unit(get_species(self.cation), get_species(self.anion))

    @property
    def name(self) -> str:
        return f"{get_species(self.cation).name}{get_species(self.anion).name}"


class SystemSize(BaseModel):
    """The target size of the box: a number of atoms or of molecules (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    atoms: int | None = None
    molecules: int | None = None

    @model_validator(mode="after")
    def _one(self) -> SystemSize:
        if (self.atoms is None) == (self.molecules is None):
            raise InputError("give exactly one of 'atoms' or 'molecules'", fix="e.g. size: {atoms: 3000}")
        n = self.atoms if self.atoms is not None else self.molecules
        if n <= 0:
            raise InputError(f"size must be positive, got {n}")
        return self


class Formulation(BaseModel):
    """A liquid electrolyte: solvents by ratio, salts by concentration, temperature and pressure."""

    model_config = ConfigDict(extra="forbid")

    name: str
    temperature: float = Field(298.15, description="K (bare numbers are K; '25 degC' works)")
    pressure: float = Field(1.0, description="bar (bare numbers are bar)")
    solvents: list[SolventComponent]
    solvent_fraction_basis: Literal["mole", "mass", "volume"] = "mole"
    salts: list[SaltComponent] = []
    size: SystemSize = SystemSize(atoms=3000)
    density: float | None = Field(None, description="g/cm3: overrides the estimated starting density")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            raise InputError(f"name {value!r} must be letters, digits, '-', '_' or '.'",
                             fix="e.g. name: lipf6_ec_dmc")
        return value

    @field_validator("temperature", mode="before")
    @classmethod
    def _temperature(cls, value: Any) -> float:
        return positive_quantity(value, "temperature", "K")

    @field_validator("pressure", mode="before")
    @classmethod
    def _pressure(cls, value: Any) -> float:
        return positive_quantity(value, "pressure", "bar")

    @field_validator("density", mode="before")
    @classmethod
    def _density(cls, value: Any) -> float | None:
        return None if value is None else positive_quantity(value, "density", "g/cm3")

    @field_validator("solvents")
    @classmethod
    def _some_solvent(cls, value: list[SolventComponent]) -> list[SolventComponent]:
        if not value:
            raise InputError("at least one solvent is needed",
                             fix="e.g. solvents: [{species: DMC, fraction: 1}]")
        return value

    @property
    def temperature_k(self) -> float:
        return self.temperature

    @property
    def pressure_bar(self) -> float:
        return self.pressure

    def species(self) -> list[Species]:
        """Every distinct species, solvents first, then ions in order of appearance."""
        seen: dict[str, Species] = {}
        for s in self.solvents:
            seen.setdefault(s.resolved.name, s.resolved)
        for salt in self.salts:
            for ion in (salt.cation, salt.anion):
                sp = get_species(ion)
                seen.setdefault(sp.name, sp)
        return list(seen.values())


class SpeciesCount(BaseModel):
    species: str
    smiles: str
    count: int
    charge: int
    n_atoms: int
    molar_mass_g_mol: float


class SaltRealised(BaseModel):
    salt: str
    formula_units: int
    requested: float
    realised: float
    unit: str

    @property
    def relative_error(self) -> float:
        return self.realised / self.requested - 1.0


class Composition(BaseModel):
    """Whole-number molecule counts for a formulation, and how well they realise it."""

    formulation: str
    counts: list[SpeciesCount]
    density_g_cm3: float = Field(description="estimated starting density")
    box_volume_nm3: float
    box_length_nm: float
    n_atoms: int
    n_molecules: int
    total_charge: int
    salts: list[SaltRealised]
    notes: list[str] = []


def load_formulation(path: str | Path) -> Formulation:
    """Read and validate a formulation YAML file; errors name the field and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}", field="FORMULATION", fix="give the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path} is not valid YAML: {err}", field="FORMULATION") from err
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a mapping of fields", field="FORMULATION",
                         fix="see workflows/lipf6_ec_dmc.yaml")
    return formulation_from_dict(data)


def formulation_from_dict(data: dict[str, Any]) -> Formulation:
    """Validate a formulation given as a dict, turning pydantic errors into one ``InputError``."""
    try:
        return Formulation.model_validate(data)
    except ValidationError as err:
        raise _input_error(err) from None


def _input_error(err: ValidationError) -> InputError:
    first = err.errors()[0]
    loc = ""
    for part in first["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InputError):
        return type(cause)(cause.message, field=loc or cause.field, fix=cause.fix)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        return InputError("unknown field", field=loc, fix="check its spelling against docs/formulation.md")
    if first["type"] == "missing":
        return InputError("required field is missing", field=loc, fix="see docs/formulation.md")
    return InputError(msg, field=loc or None, fix="see docs/formulation.md")


def _solvent_moles(f: Formulation) -> list[float]:
    """Relative moles of each solvent from the fractions on their basis."""
    out = []
    for s in f.solvents:
        mass_g_mol = s.resolved.molar_mass_g_mol
        if f.solvent_fraction_basis == "mole":
            out.append(s.fraction)
        elif f.solvent_fraction_basis == "mass":
            out.append(s.fraction / mass_g_mol)
        else:
            out.append(s.fraction * s.density_g_cm3 / mass_g_mol)
    return out


def estimate_density(f: Formulation) -> tuple[float, list[str]]:
    """Starting density (g/cm3): ideal mixing of pure solvents plus ionic partial molar volumes.

    Only a starting point for packing; NPT dynamics finds the real density.
    """
    notes = []
    moles = _solvent_moles(f)
    mass = sum(n * s.resolved.molar_mass_g_mol for n, s in zip(moles, f.solvents, strict=True))
    volume = sum(n * s.resolved.molar_mass_g_mol / s.density_g_cm3 for n, s in zip(moles, f.solvents,
                                                                                        strict=True))
    for s in f.solvents:
        if s.density is None and s.resolved.density_g_cm3 is None:
            notes.append(f"no density known for {s.species}: assumed {DEFAULT_SOLVENT_DENSITY_G_CM3} g/cm3")
    rho_solvent = mass / volume
    if f.density is not None:
        return f.density, notes
    salt_mass, salt_volume = 0.0, 0.0  # g and cm3 of salt per reference amount
    for salt in f.salts:
        n_cat, n_an = salt.stoich
        cat, an = get_species(salt.cation), get_species(salt.anion)
        salt_mass += salt.concentration.value * (n_cat * cat.molar_mass_g_mol + n_an * an.molar_mass_g_mol)
        salt_volume += salt.concentration.value * (n_cat * (cat.molar_volume_cm3 or 0.0)
                                                   + n_an * (an.molar_volume_cm3 or 0.0))
    if f.salts and f.salts[0].concentration.kind == "molality":  # reference: 1 kg of solvent
        return (1000.0 + salt_mass) / (1000.0 / rho_solvent + salt_volume), notes
    # reference: 1 L of solution, of which the salt takes salt_volume
    return ((1000.0 - salt_volume) * rho_solvent + salt_mass) / 1000.0, notes


def compose(f: Formulation, *, n_atoms: int | None = None, n_molecules: int | None = None) -> Composition:
    """Whole-number, electroneutral counts of every species for the target size.

    The size comes from the arguments when given, else from the formulation. Concentrations are realised
    at the estimated density; the realised value is reported beside the requested one.
    """
    if n_atoms is None and n_molecules is None:
        n_atoms, n_molecules = f.size.atoms, f.size.molecules
    if n_atoms is not None and n_atoms <= 0:
        raise InputError(f"number of atoms must be positive, got {n_atoms}", field="size.atoms")
    density, notes = estimate_density(f)
    if len({s.concentration.kind for s in f.salts}) > 1:
        raise InputError("salts mix molarity and molality", field="salts",
                         fix="give every salt in mol/L, or every salt in mol/kg")
    # moles of each entity per reference amount of solution
    solvent_rel = _solvent_moles(f)
    solvent_mass_rel = sum(n * s.resolved.molar_mass_g_mol for n, s in zip(solvent_rel, f.solvents,
                                                                           strict=True))
    salt_fu_mass = []
    for salt in f.salts:
        n_cat, n_an = salt.stoich
        salt_fu_mass.append(n_cat * get_species(salt.cation).molar_mass_g_mol
                            + n_an * get_species(salt.anion).molar_mass_g_mol)
    if f.salts and f.salts[0].concentration.kind == "molarity":
        salt_mol = [s.concentration.value for s in f.salts]  # per litre of solution
        solvent_grams = density * 1000.0 - sum(c * m for c, m in zip(salt_mol, salt_fu_mass, strict=True))
        if solvent_grams <= 0:
            raise InputError("the salt alone outweighs a litre of solution", field="salts[0].concentration",
                             fix="lower the concentration or give the solution density explicitly")
    else:
        solvent_grams = 1000.0
        salt_mol = [s.concentration.value for s in f.salts]  # per kg of solvent
    solvent_mol = [n * solvent_grams / solvent_mass_rel for n in solvent_rel]

    entities: list[tuple[float, int, int]] = []  # (moles, atoms per entity, molecules per entity)
    for s, n in zip(f.solvents, solvent_mol, strict=True):
        entities.append((n, s.resolved.n_atoms, 1))
    for salt, n in zip(f.salts, salt_mol, strict=True):
        n_cat, n_an = salt.stoich
        cat, an = get_species(salt.cation), get_species(salt.anion)
        entities.append((n, n_cat * cat.n_atoms + n_an * an.n_atoms, n_cat + n_an))
    if n_atoms is not None:
        per_ref = sum(n * a for n, a, _ in entities)
        scale = n_atoms / per_ref
        size_field, size_value = "size.atoms", n_atoms
    else:
        per_ref = sum(n * m for n, _, m in entities)
        scale = n_molecules / per_ref
        size_field, size_value = "size.molecules", n_molecules
    rounded = [round(n * scale) for n, _, _ in entities]

    counts: dict[str, SpeciesCount] = {}

    def add(sp: Species, k: int) -> None:
        if sp.name in counts:
            counts[sp.name].count += k
        else:
            counts[sp.name] = SpeciesCount(species=sp.name, smiles=sp.smiles, count=k, charge=sp.charge,
                                           n_atoms=sp.n_atoms, molar_mass_g_mol=sp.molar_mass_g_mol)

    for s, k in zip(f.solvents, rounded[: len(f.solvents)], strict=True):
        if k == 0:
            raise InputError(f"{size_value} is too small to hold one {s.resolved.name} molecule",
                             field=size_field, fix="ask for a larger system")
        add(s.resolved, k)
    for salt, k in zip(f.salts, rounded[len(f.solvents):], strict=True):
        if k == 0:
            raise InputError(f"{size_value} is too small to hold one {salt.name} formula unit",
                             field=size_field, fix="ask for a larger system or a higher concentration")
        n_cat, n_an = salt.stoich
        add(get_species(salt.cation), k * n_cat)
        add(get_species(salt.anion), k * n_an)

    total_mass_g_mol = sum(c.count * c.molar_mass_g_mol for c in counts.values())
    volume_nm3 = total_mass_g_mol / AVOGADRO / density * 1e21
    realised = []
    solvent_g_mol = sum(c.count * c.molar_mass_g_mol for c in counts.values() if c.charge == 0)
    solvent_mass_kg = solvent_g_mol / AVOGADRO / 1e3
    for salt, k in zip(f.salts, rounded[len(f.solvents):], strict=True):
        if salt.concentration.kind == "molarity":
            value = k / AVOGADRO / (volume_nm3 * 1e-24)
        else:
            value = k / AVOGADRO / solvent_mass_kg
        realised.append(SaltRealised(salt=salt.name, formula_units=k, requested=salt.concentration.value,
                                     realised=value, unit=salt.concentration.unit))
    return Composition(
        formulation=f.name, counts=list(counts.values()), density_g_cm3=density,
        box_volume_nm3=volume_nm3, box_length_nm=volume_nm3 ** (1 / 3),
        n_atoms=sum(c.count * c.n_atoms for c in counts.values()),
        n_molecules=sum(c.count for c in counts.values()),
        total_charge=sum(c.count * c.charge for c in counts.values()),
        salts=realised, notes=notes,
    )
