"""The species library and the ``Species`` model.

A species is given by a library name (or alias, case-insensitive) or by a SMILES string. Library
entries carry a pure-liquid density (solvents) or an ionic partial molar volume (ions), used only to
estimate the starting box.
"""

from __future__ import annotations

import functools
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

from phyneo_flows.errors import SpeciesError


class Species(BaseModel):
    """One chemical species: a molecule or an ion."""

    model_config = ConfigDict(frozen=True)

    name: str
    smiles: str
    charge: int
    molar_mass_g_mol: float
    n_atoms: int
    density_g_cm3: float | None = None
    molar_volume_cm3: float | None = None
    aliases: tuple[str, ...] = ()
    from_library: bool = True

    @property
    def residue_name(self) -> str:
        """A three-letter PDB residue name."""
        letters = "".join(c for c in self.name.upper() if c.isalnum())
        return letters[:3] or "MOL"


def _canonical(smiles: str) -> tuple[Chem.Mol, str]:
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise SpeciesError(f"invalid SMILES {smiles!r}", field="species",
                           fix="check the SMILES string (RDKit could not parse it) or use a library name")
    return mol, Chem.MolToSmiles(mol)


def _make(entry: dict, from_library: bool = True) -> Species:
    mol, _ = _canonical(entry["smiles"])
    molh = Chem.AddHs(mol)
    charge = Chem.GetFormalCharge(mol)
    if "charge" in entry and entry["charge"] != charge:
        raise ValueError(f"library entry {entry['name']}: charge does not match its SMILES")
    return Species(
        name=entry["name"], smiles=entry["smiles"], charge=charge,
        molar_mass_g_mol=Descriptors.MolWt(molh), n_atoms=molh.GetNumAtoms(),
        density_g_cm3=entry.get("density_g_cm3"), molar_volume_cm3=entry.get("molar_volume_cm3"),
        aliases=tuple(entry.get("aliases", ())), from_library=from_library,
    )


@functools.cache
def library() -> dict[str, Species]:
    """All library species by name."""
    text = resources.files("phyneo_flows").joinpath("data/species.yaml").read_text()
    raw = yaml.safe_load(text)
    return {e["name"]: _make(e) for group in ("solvents", "ions") for e in raw[group]}


@functools.cache
def _lookup_tables() -> tuple[dict[str, str], dict[str, str]]:
    by_alias: dict[str, str] = {}
    by_smiles: dict[str, str] = {}
    for name, sp in library().items():
        for key in (name, *sp.aliases):
            by_alias[key.lower()] = name
        by_smiles[_canonical(sp.smiles)[1]] = name
    return by_alias, by_smiles


def get_species(spec: str, *, field: str = "species") -> Species:
    """A species from a library name, an alias, or a SMILES string.

    A SMILES that matches a library species returns the library entry (with its density).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpeciesError("empty species", field=field, fix="give a library name (e.g. EC) or a SMILES")
    spec = spec.strip()
    by_alias, by_smiles = _lookup_tables()
    if spec.lower() in by_alias:
        return library()[by_alias[spec.lower()]]
    if not _looks_like_smiles(spec):
        known = ", ".join(library())
        raise SpeciesError(f"unknown species {spec!r}", field=field,
                           fix=f"use a library name ({known}) or a SMILES string")
    try:
        _, canonical = _canonical(spec)
    except SpeciesError as err:
        raise SpeciesError(f"invalid SMILES {spec!r} (and not a library name)", field=field,
                           fix=f"check the SMILES, or use a library name ({', '.join(library())})") from err
    if canonical in by_smiles:
        return library()[by_smiles[canonical]]
    return _make({"name": canonical, "smiles": spec}, from_library=False)


def _looks_like_smiles(text: str) -> bool:
    """True unless ``text`` is plainly a word (a misspelt name rather than a SMILES)."""
    if any(c in text for c in "()[]=#@+-/\\%0123456789"):
        return True
    # organic-subset SMILES letters only: B C N O P S F Cl Br I and aromatic b c n o p s
    stripped = text.replace("Cl", "").replace("Br", "")
    return all(c in "BCNOPSFIbcnops" for c in stripped)
