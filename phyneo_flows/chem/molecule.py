"""One molecule: a 3D conformer from RDKit and atom types from its graph symmetry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from phyneo_flows.errors import InputError
from phyneo_flows.species import Species, get_species

DEFAULT_SEED = 20251113


@dataclass
class MoleculeTemplate:
    """A molecule with explicit hydrogens, one conformer (nm) and its atom types.

    Atom types are named ``<species>_<element><k>``; atoms that are symmetry-equivalent in the
    molecular graph (RDKit canonical ranks without tie breaking) share a type.
    """

    name: str
    smiles: str
    formal_charge: int
    symbols: list[str]
    positions_nm: np.ndarray
    bonds: list[tuple[int, int]]
    atom_types: list[str]
    masses_amu: np.ndarray
    rdkit_mol: Chem.Mol = field(repr=False)

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def residue_name(self) -> str:
        return get_species(self.smiles).residue_name if self.name else "MOL"

    def unique_types(self) -> list[str]:
        """Atom types in order of first appearance."""
        return list(dict.fromkeys(self.atom_types))


def atom_types(mol: Chem.Mol, prefix: str) -> list[str]:
    """Symmetry-equivalent atoms share a type: ``prefix_<element><k>``, k counted per element."""
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    names: dict[int, str] = {}
    per_element: dict[str, int] = {}
    out = []
    for atom, rank in zip(mol.GetAtoms(), ranks, strict=True):
        if rank not in names:
            el = atom.GetSymbol()
            per_element[el] = per_element.get(el, 0) + 1
            names[rank] = f"{prefix}_{el}{per_element[el]}"
        out.append(names[rank])
    return out


def _octahedral_fix(mol: Chem.Mol) -> None:
    """ETKDG has no octahedral template: place six ligands of a hexavalent centre on the axes."""
    conf = mol.GetConformer()
    for atom in mol.GetAtoms():
        if atom.GetDegree() == 6 and all(n.GetDegree() == 1 for n in atom.GetNeighbors()):
            centre = np.array(conf.GetAtomPosition(atom.GetIdx()))
            axes = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
            bond = np.mean([np.linalg.norm(np.array(conf.GetAtomPosition(n.GetIdx())) - centre)
                            for n in atom.GetNeighbors()])
            for nb, ax in zip(atom.GetNeighbors(), axes, strict=True):
                conf.SetAtomPosition(nb.GetIdx(), (centre + bond * ax).tolist())


def build_molecule(spec: str | Species, *, seed: int = DEFAULT_SEED) -> MoleculeTemplate:
    """A 3D molecule from a library name or SMILES: ETKDGv3 embedding then MMFF94 (UFF if MMFF lacks
    parameters) with a fixed seed, so the same input always gives the same conformer."""
    species = spec if isinstance(spec, Species) else get_species(spec)
    mol = Chem.AddHs(Chem.MolFromSmiles(species.smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    RDLogger.DisableLog("rdApp.*")
    try:
        if AllChem.EmbedMolecule(mol, params) != 0:
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(mol, params) != 0:
                raise InputError(f"RDKit could not embed {species.name} ({species.smiles}) in 3D",
                                 field="species", fix="check the SMILES (stereochemistry, valences)")
        if mol.GetNumAtoms() > 1:
            if AllChem.MMFFHasAllMoleculeParams(mol):
                AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
            elif not any(a.GetDegree() > 4 for a in mol.GetAtoms()):
                AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    finally:
        RDLogger.EnableLog("rdApp.*")
    _octahedral_fix(mol)
    positions = np.array(mol.GetConformer().GetPositions(), dtype=float) * 0.1
    positions -= positions.mean(axis=0)
    return MoleculeTemplate(
        name=species.name,
        smiles=species.smiles,
        formal_charge=species.charge,
        symbols=[a.GetSymbol() for a in mol.GetAtoms()],
        positions_nm=positions,
        bonds=[(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()],
        atom_types=atom_types(mol, species.name),
        masses_amu=np.array([a.GetMass() for a in mol.GetAtoms()]),
        rdkit_mol=mol,
    )
