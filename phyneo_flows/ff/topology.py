"""A system as flat per-atom arrays: the molecules of a box, each with its parameters.

Atoms of a molecule are contiguous and in the order of the molecule's parameter entry (the species
template's order). Intramolecular pairs are every pair of atoms inside one molecule: they are excluded
from permanent-permanent and permanent-induced electrostatics, dispersion and Slater terms, and stay
coupled (Thole-damped) for induced-induced interactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.ff.params import SLATER_COMPONENTS, ForceFieldParams

# OpenMM's AmoebaMultipoleForce axis-type enumeration
AXIS_CODES = {"ZThenX": 0, "Bisector": 1, "ZBisect": 2, "ThreeFold": 3, "ZOnly": 4, "NoAxisType": 5}


@dataclass
class FFSystem:
    """Per-atom parameters (internal units) and the pair/bonded index lists of a system."""

    molecule_names: list[str]
    symbols: list[str]
    atom_types: list[str]
    mol: np.ndarray  # (N,) molecule index of each atom
    charge: np.ndarray  # (N,) e
    dipole_local: np.ndarray  # (N, 3) e nm
    quadrupole_local: np.ndarray  # (N, 3, 3) e nm^2, OpenMM convention (Theta/3)
    axis: np.ndarray  # (N,) OpenMM axis-type code
    frame: np.ndarray  # (N, 3) global indices of the z, x, y frame atoms (-1: none)
    polarizability: np.ndarray  # (N,) nm^3
    thole: np.ndarray  # (N,)
    c6: np.ndarray  # (N,) kJ/mol nm^6
    c8: np.ndarray
    c10: np.ndarray
    b: np.ndarray  # (N,) 1/nm
    a: np.ndarray  # (N, 5) (kJ/mol)^0.5 in SLATER_COMPONENTS order
    intra_pairs: np.ndarray  # (P, 2) every i<j pair inside one molecule
    bonds: np.ndarray  # (nb, 2)
    bond_r0: np.ndarray
    bond_k: np.ndarray
    angles: np.ndarray  # (na, 3)
    angle_theta0: np.ndarray
    angle_k: np.ndarray
    torsions: np.ndarray  # (nt, 4)
    torsion_n: np.ndarray
    torsion_phase: np.ndarray
    torsion_k: np.ndarray
    walls: np.ndarray  # (nw, 2)
    wall_r0: np.ndarray
    wall_k: np.ndarray
    molecule_starts: list[int] = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)


def build_system(params: ForceFieldParams, molecule_names: list[str]) -> FFSystem:
    """Concatenate the parameters of ``molecule_names`` (one entry per molecule, in atom order)."""
    keys = ["charge", "dipole", "quadrupole", "polarizability", "thole", "C6", "C8", "C10", "B"]
    cols: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    a_cols: list[np.ndarray] = []
    symbols: list[str] = []
    types: list[str] = []
    mol: list[np.ndarray] = []
    axis: list[int] = []
    frame: list[list[int]] = []
    intra: list[tuple[int, int]] = []
    bonds, bond_r0, bond_k = [], [], []
    angles, theta0, angle_k = [], [], []
    tors, tor_n, tor_phase, tor_k = [], [], [], []
    walls, wall_r0, wall_k = [], [], []
    starts: list[int] = []
    offset = 0
    for m, name in enumerate(molecule_names):
        mp = params.molecule(name)
        n = len(mp.symbols)
        starts.append(offset)
        for k in keys:
            cols[k].append(mp.type_array(k))
        a_cols.append(np.stack([mp.type_array(f"A_{c}") for c in SLATER_COMPONENTS], axis=1))
        symbols += mp.symbols
        types += mp.atom_types
        mol.append(np.full(n, m))
        for f in mp.frames:
            axis.append(AXIS_CODES[f.axis])
            frame.append([idx + offset if idx >= 0 else -1 for idx in (f.z, f.x, f.y)])
        intra += [(offset + i, offset + j) for i, j in combinations(range(n), 2)]
        for b in mp.bonded.bonds:
            bonds.append([offset + i for i in b.atoms])
            bond_r0.append(float(np.asarray(b.r0.value)))
            bond_k.append(float(np.asarray(b.k.value)))
        for a in mp.bonded.angles:
            angles.append([offset + i for i in a.atoms])
            theta0.append(float(np.asarray(a.theta0.value)))
            angle_k.append(float(np.asarray(a.k.value)))
        for t in mp.bonded.torsions:
            tors.append([offset + i for i in t.atoms])
            tor_n.append(t.periodicity)
            tor_phase.append(float(np.asarray(t.phase.value)))
            tor_k.append(float(np.asarray(t.k.value)))
        for w in mp.bonded.walls:
            walls.append([offset + i for i in w.atoms])
            wall_r0.append(float(np.asarray(w.r0.value)))
            wall_k.append(float(np.asarray(w.k.value)))
        offset += n
    if offset == 0:
        raise InputError("the system has no atoms", field="molecules", fix="give at least one molecule")

    def cat(k: str) -> np.ndarray:
        return np.concatenate(cols[k], axis=0)

    def arr(x: list, shape: tuple[int, ...], dtype: type = float) -> np.ndarray:
        return np.asarray(x, dtype=dtype).reshape(shape)

    return FFSystem(
        molecule_names=list(molecule_names),
        symbols=symbols,
        atom_types=types,
        mol=np.concatenate(mol),
        charge=cat("charge"),
        dipole_local=cat("dipole"),
        quadrupole_local=cat("quadrupole"),
        axis=np.asarray(axis, dtype=np.int32),
        frame=np.asarray(frame, dtype=np.int32).reshape(-1, 3),
        polarizability=cat("polarizability"),
        thole=cat("thole"),
        c6=cat("C6"),
        c8=cat("C8"),
        c10=cat("C10"),
        b=cat("B"),
        a=np.concatenate(a_cols, axis=0),
        intra_pairs=arr(intra, (-1, 2), np.int32),
        bonds=arr(bonds, (-1, 2), np.int32),
        bond_r0=arr(bond_r0, (-1,)),
        bond_k=arr(bond_k, (-1,)),
        angles=arr(angles, (-1, 3), np.int32),
        angle_theta0=arr(theta0, (-1,)),
        angle_k=arr(angle_k, (-1,)),
        torsions=arr(tors, (-1, 4), np.int32),
        torsion_n=arr(tor_n, (-1,), np.int32),
        torsion_phase=arr(tor_phase, (-1,)),
        torsion_k=arr(tor_k, (-1,)),
        walls=arr(walls, (-1, 2), np.int32),
        wall_r0=arr(wall_r0, (-1,)),
        wall_k=arr(wall_k, (-1,)),
        molecule_starts=starts,
    )


def match_molecules(params: ForceFieldParams, symbols: list[str], bonds: list[tuple[int, int]]) -> list[str]:
    """Name each molecule of a system given by element symbols and bonds (e.g. a PDB with CONECT).

    Molecules are the connected components, which must be contiguous and in the atom order of a molecule
    of ``params`` (same element sequence and bonds).
    """
    n = len(symbols)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in bonds:
        parent[find(i)] = find(j)
    names: list[str] = []
    start = 0
    while start < n:
        root = find(start)
        end = start
        while end < n and find(end) == root:
            end += 1
        sub = symbols[start:end]
        sub_bonds = {tuple(sorted((i - start, j - start))) for i, j in bonds if start <= i < end}
        hit = None
        for name, mp in params.molecules.items():
            if mp.symbols == sub and {tuple(sorted(b)) for b in mp.bonds} == sub_bonds:
                hit = name
                break
        if hit is None:
            raise InputError(
                f"atoms {start}..{end - 1} ({''.join(sub)}) match no molecule of the parameters",
                field="SYSTEM",
                fix="order each molecule's atoms as in the parameter file",
            )
        names.append(hit)
        start = end
    return names
