"""Dimers and clusters for reference QM.

- ``cut_dimers``: nearest-neighbour molecule pairs of an MD frame (closest contact within a distance,
  minimum image), grouped by pair type.
- ``fingerprint`` / ``select_diverse``: a rotation-, translation- and permutation-tolerant fingerprint of
  a dimer (sorted intermolecular inverse distances by element pair), used to drop near-duplicates and to
  pick the most diverse subset (farthest-point sampling).
- ``com_scan``: move molecule B along the line between the centres of mass so that the closest contact
  takes each requested value (the paper's scans run from 1.4 Å to 6.2 Å in about 12 points).
- ``cut_clusters``: an ion with its n nearest solvent molecules (e.g. Li+(EC)n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.spatial.distance import cdist

DEFAULT_SCAN_CONTACTS_A = tuple(np.round(np.linspace(1.4, 6.2, 12), 3))


@dataclass
class Dimer:
    """Two molecules, positions in nm. ``source`` says where it came from (frame, molecules, scan)."""

    species_a: str
    species_b: str
    symbols_a: list[str]
    symbols_b: list[str]
    positions_a_nm: np.ndarray
    positions_b_nm: np.ndarray
    charge_a: int = 0
    charge_b: int = 0
    source: dict = field(default_factory=dict)

    @property
    def pair_type(self) -> str:
        return pair_type(self.species_a, self.species_b)

    @property
    def closest_contact_nm(self) -> float:
        return closest_contact_nm(self.positions_a_nm, self.positions_b_nm)

    @property
    def masses_a(self) -> np.ndarray:
        return _masses(self.symbols_a)

    @property
    def masses_b(self) -> np.ndarray:
        return _masses(self.symbols_b)

    def xyz(self) -> str:
        """XYZ text (Å), monomer A first: ``phyneo qm sapt FILE --split len(symbols_a)``."""
        rows = [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in
                zip(self.symbols_a + self.symbols_b,
                    np.vstack([self.positions_a_nm, self.positions_b_nm]) * 10.0, strict=True)]
        comment = (f"{self.pair_type} split={len(self.symbols_a)} charges={self.charge_a},{self.charge_b} "
                   f"closest_contact_A={10 * self.closest_contact_nm:.3f}")
        return f"{len(rows)}\n{comment}\n" + "\n".join(rows) + "\n"


def pair_type(a: str, b: str) -> str:
    """A canonical name of an unordered pair of species: ``DMC-EC``, ``Li+-PF6-``."""
    return "-".join(sorted((a, b)))


def closest_contact_nm(a: np.ndarray, b: np.ndarray) -> float:
    return float(cdist(a, b).min())


_MASS = {"H": 1.008, "Li": 6.94, "B": 10.81, "C": 12.011, "N": 14.007, "O": 15.999, "F": 18.998, "Na": 22.99,
         "P": 30.974, "S": 32.06, "Cl": 35.45, "Mg": 24.305, "K": 39.098}


def _masses(symbols: Sequence[str]) -> np.ndarray:
    return np.array([_MASS[s] for s in symbols])


def _com(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    return (positions * masses[:, None]).sum(axis=0) / masses.sum()


def cut_dimers(positions_nm: np.ndarray, box_nm: float | None, molecule_index: np.ndarray,
               molecule_species: Sequence[str], symbols: Sequence[str], charges: dict[str, int] | None = None,
               cutoff_nm: float = 0.35, frame: int = 0) -> list[Dimer]:
    """Every pair of molecules whose closest contact (minimum image) is within ``cutoff_nm``.

    ``positions_nm`` must keep each molecule whole (unwrapped per molecule), as packmol boxes and our
    trajectories do; molecule B is shifted by whole box vectors next to molecule A.
    """
    charges = charges or {}
    symbols = list(symbols)
    n_mol = int(molecule_index.max()) + 1
    atoms = [np.flatnonzero(molecule_index == k) for k in range(n_mol)]
    masses = _masses(symbols)
    coms = np.array([_com(positions_nm[ix], masses[ix]) for ix in atoms])
    radii = np.array([np.linalg.norm(positions_nm[ix] - c, axis=1).max() for ix, c in zip(atoms, coms, strict=True)])
    out = []
    for i in range(n_mol):
        d = coms - coms[i]
        if box_nm:
            shift = -box_nm * np.round(d / box_nm)
            d = d + shift
        else:
            shift = np.zeros_like(d)
        near = np.flatnonzero(np.linalg.norm(d, axis=1) < radii[i] + radii + cutoff_nm)
        for j in near[near > i]:
            pa = positions_nm[atoms[i]]
            pb = positions_nm[atoms[j]] + shift[j]
            if closest_contact_nm(pa, pb) <= cutoff_nm:
                out.append(Dimer(
                    species_a=molecule_species[i], species_b=molecule_species[j],
                    symbols_a=[symbols[k] for k in atoms[i]], symbols_b=[symbols[k] for k in atoms[j]],
                    positions_a_nm=pa.copy(), positions_b_nm=pb.copy(),
                    charge_a=charges.get(molecule_species[i], 0), charge_b=charges.get(molecule_species[j], 0),
                    source={"frame": frame, "molecules": [i, int(j)]}))
    return [_ordered(d) for d in out]


def _ordered(d: Dimer) -> Dimer:
    """Put the pair in its canonical order (the species sorted by name), so a pair type has one layout."""
    if (d.species_a, d.species_b) == tuple(sorted((d.species_a, d.species_b))):
        return d
    return Dimer(d.species_b, d.species_a, d.symbols_b, d.symbols_a, d.positions_b_nm, d.positions_a_nm,
                 d.charge_b, d.charge_a, d.source)


def fingerprint(d: Dimer, n_per_pair: int = 8) -> np.ndarray:
    """Sorted inverse intermolecular distances (1/nm) for each element pair, the ``n_per_pair`` largest.

    Invariant under rotation, translation and permutation of equivalent atoms.
    """
    inv = 1.0 / cdist(d.positions_a_nm, d.positions_b_nm)
    parts = []
    elements = sorted(set(d.symbols_a) | set(d.symbols_b))
    sa, sb = np.array(d.symbols_a), np.array(d.symbols_b)
    for ea in elements:
        for eb in elements:
            block = inv[np.ix_(sa == ea, sb == eb)].ravel()
            top = np.sort(block)[::-1][:n_per_pair]
            parts.append(np.pad(top, (0, n_per_pair - len(top))))
    return np.concatenate(parts)


def select_diverse(dimers: Sequence[Dimer], n: int, *, min_distance: float = 1e-3, seed: int = 0) -> list[Dimer]:
    """Up to ``n`` dimers of one pair type: drop near-duplicates (fingerprints closer than ``min_distance``
    relative), then farthest-point sampling from a seeded random start."""
    if not dimers:
        return []
    fps = np.array([fingerprint(d) for d in dimers])
    scale = np.linalg.norm(fps, axis=1).mean()
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(dimers)))]
    dist = np.linalg.norm(fps - fps[chosen[0]], axis=1) / scale
    while len(chosen) < min(n, len(dimers)):
        k = int(np.argmax(dist))
        if dist[k] < min_distance:
            break
        chosen.append(k)
        dist = np.minimum(dist, np.linalg.norm(fps - fps[k], axis=1) / scale)
    return [dimers[k] for k in chosen]


def com_scan(d: Dimer, contacts_a: Sequence[float] = DEFAULT_SCAN_CONTACTS_A) -> list[Dimer]:
    """Rigid translations of molecule B along the centre-of-mass line, one per closest contact (Å)."""
    ca, cb = _com(d.positions_a_nm, d.masses_a), _com(d.positions_b_nm, d.masses_b)
    axis = cb - ca
    if np.linalg.norm(axis) < 1e-9:
        raise ValueError("the two molecules share a centre of mass: no line to scan along")
    axis /= np.linalg.norm(axis)
    centred = d.positions_b_nm - cb

    def contact(t: float) -> float:
        return closest_contact_nm(d.positions_a_nm, centred + ca + t * axis)

    scans = []
    for target_a in contacts_a:
        target = target_a / 10.0
        lo, hi = 0.0, np.linalg.norm(cb - ca) + target + 1.0
        while contact(lo) > target:  # B's centre can sit inside A's envelope for a far-flung pose
            lo -= 0.1
        t = brentq(lambda s, tg=target: contact(s) - tg, lo, hi, xtol=1e-9)
        scans.append(Dimer(d.species_a, d.species_b, d.symbols_a, d.symbols_b, d.positions_a_nm.copy(),
                           centred + ca + t * axis, d.charge_a, d.charge_b,
                           source=d.source | {"scan_contact_A": float(target_a)}))
    return scans


def cut_clusters(positions_nm: np.ndarray, box_nm: float | None, molecule_index: np.ndarray,
                 molecule_species: Sequence[str], symbols: Sequence[str], centre_species: str,
                 ligand_species: Sequence[str], n_ligands: int) -> list[dict]:
    """Each ``centre_species`` molecule with its ``n_ligands`` nearest ``ligand_species`` molecules
    (closest contact, minimum image, made whole next to the centre). Returns dicts of symbols,
    positions (nm), and the molecules taken."""
    symbols = list(symbols)
    n_mol = int(molecule_index.max()) + 1
    atoms = [np.flatnonzero(molecule_index == k) for k in range(n_mol)]
    masses = _masses(symbols)
    coms = np.array([_com(positions_nm[ix], masses[ix]) for ix in atoms])
    out = []
    for c in (k for k in range(n_mol) if molecule_species[k] == centre_species):
        pc = positions_nm[atoms[c]]
        candidates = []
        for j in (k for k in range(n_mol) if molecule_species[k] in ligand_species and k != c):
            shift = -box_nm * np.round((coms[j] - coms[c]) / box_nm) if box_nm else np.zeros(3)
            pj = positions_nm[atoms[j]] + shift
            candidates.append((closest_contact_nm(pc, pj), j, pj))
        candidates.sort(key=lambda x: x[0])
        take = candidates[:n_ligands]
        out.append({"molecules": [c] + [j for _, j, _ in take],
                    "species": [centre_species] + [molecule_species[j] for _, j, _ in take],
                    "symbols": [symbols[i] for i in atoms[c]] + [symbols[i] for _, j, _ in take for i in atoms[j]],
                    "positions_nm": np.vstack([pc] + [p for _, _, p in take])})
    return out
