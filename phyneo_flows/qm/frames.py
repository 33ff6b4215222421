"""Local frames for atomic multipoles, chosen from the molecular graph, in OpenMM AMOEBA's conventions.

Axis types and their construction follow ``AmoebaMultipoleForce`` (reference platform) exactly:

* ``ZThenX`` (0): z points to the z-atom; x is the direction to the x-atom with its z part removed.
* ``Bisector`` (1): z is the bisector of the unit vectors to the z- and x-atoms; x as above.
* ``ZBisect`` (2): z points to the z-atom; x is the bisector of the unit vectors to the x- and y-atoms,
  with its z part removed.
* ``ThreeFold`` (3): z is the sum of the unit vectors to the z-, x- and y-atoms; x from the x-atom.
* ``ZOnly`` (4): z points to the z-atom; x is the lab x axis (1, 0, 0), or (0, 1, 0) when
  ``|z_x| >= 0.866``, with its z part removed.
* ``NoAxisType`` (5): the lab frame (isolated ions, atoms of high site symmetry).

y = z cross x in every case. Rows of ``rotation_matrix`` are the lab-frame x, y, z unit vectors, so
``local = R @ lab`` for a dipole and ``R @ Q @ R.T`` for a quadrupole. No frame here uses a y-atom with
``ZThenX``, so OpenMM's chirality flip never applies.

Symmetry-equivalent atoms come from RDKit ``CanonicalRankAtoms(breakTies=False)`` on the bond graph
(all bonds single, so resonance-equivalent atoms such as the oxygens of a carboxylate are equivalent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z_THEN_X, BISECTOR, Z_BISECT, THREE_FOLD, Z_ONLY, NO_AXIS = 0, 1, 2, 3, 4, 5
AXIS_NAMES = {Z_THEN_X: "ZThenX", BISECTOR: "Bisector", Z_BISECT: "ZBisect", THREE_FOLD: "ThreeFold",
              Z_ONLY: "ZOnly", NO_AXIS: "NoAxisType"}


@dataclass(frozen=True)
class LocalFrame:
    """One atom's frame: OpenMM axis type and the atoms that define it (-1 where unused)."""

    axis_type: int
    z: int = -1
    x: int = -1
    y: int = -1

    @property
    def name(self) -> str:
        return AXIS_NAMES[self.axis_type]


def symmetry_classes(atomic_numbers: Sequence[int], bonds: Sequence[tuple[int, int]]) -> list[int]:
    """Canonical ranks without tie breaking: equal rank = symmetry-equivalent atoms in the graph."""
    from rdkit import Chem

    rw = Chem.RWMol()
    for z in atomic_numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    for i, j in bonds:
        rw.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol = rw.GetMol()
    mol.UpdatePropertyCache(strict=False)
    return [int(r) for r in Chem.CanonicalRankAtoms(mol, breakTies=False)]


def bonds_from_geometry(symbols: Sequence[str], positions_nm: np.ndarray, charge: int = 0) -> list[tuple[int, int]]:
    """Bonds from interatomic distances (RDKit ``DetermineConnectivity``), for xyz input."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    lines = [str(len(symbols)), ""]
    lines += [f"{s} {x * 10:.6f} {y * 10:.6f} {z * 10:.6f}" for s, (x, y, z) in zip(symbols, positions_nm,
                                                                                     strict=True)]
    mol = Chem.MolFromXYZBlock("\n".join(lines) + "\n")
    rdDetermineBonds.DetermineConnectivity(mol, charge=charge)
    return [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]


def choose_frames(atomic_numbers: Sequence[int], bonds: Sequence[tuple[int, int]],
                  classes: Sequence[int] | None = None) -> list[LocalFrame]:
    """A frame per atom from the graph.

    Rules: no neighbour -> NoAxisType. One neighbour j -> z = j; x from j's other neighbours: one
    distinct class -> ZThenX to the highest-priority one, two equivalent -> ZBisect, none or three and
    more all equivalent (axial site) -> ZOnly.
    Two neighbours: equivalent -> Bisector, else ZThenX (z = higher priority). Three or more: a unique
    highest-priority neighbour is z, then x as for one neighbour; three equivalent -> ThreeFold;
    four or more all equivalent (tetrahedral/octahedral centres, no dipole or quadrupole by
    symmetry) -> NoAxisType. Priority: atoms in a symmetry class of their own first, then higher Z,
    then higher canonical rank.
    """
    n = len(atomic_numbers)
    if classes is None:
        classes = symmetry_classes(atomic_numbers, bonds)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in bonds:
        neighbours[i].append(j)
        neighbours[j].append(i)

    def ordered(atoms: list[int]) -> list[int]:
        counts = {c: sum(1 for a in atoms if classes[a] == classes[c]) for c in atoms}
        return sorted(atoms, key=lambda a: (counts[a] > 1, -atomic_numbers[a], -classes[a], a))

    def x_choice(i: int, zatom: int, candidates: list[int]) -> LocalFrame:
        if not candidates:
            return LocalFrame(Z_ONLY, z=zatom)
        cand = ordered(candidates)
        first = cand[0]
        same = [a for a in cand if classes[a] == classes[first]]
        if len(same) == 2 and len(cand) == 2:
            return LocalFrame(Z_BISECT, z=zatom, x=same[0], y=same[1])
        if len(same) == len(cand) >= 3:  # C3v/C4v site (F of PF6-, BF4-): axial moments, and an x atom
            return LocalFrame(Z_ONLY, z=zatom)  # could be trans to the atom (collinear, frame undefined)
        return LocalFrame(Z_THEN_X, z=zatom, x=first)

    frames: list[LocalFrame] = []
    for i in range(n):
        nb = neighbours[i]
        if not nb:
            frames.append(LocalFrame(NO_AXIS))
        elif len(nb) == 1:
            j = nb[0]
            frames.append(x_choice(i, j, [k for k in neighbours[j] if k != i]))
        elif len(nb) == 2:
            a, b = ordered(nb)
            frames.append(LocalFrame(BISECTOR, z=a, x=b) if classes[a] == classes[b]
                          else LocalFrame(Z_THEN_X, z=a, x=b))
        else:
            cand = ordered(nb)
            if len({classes[a] for a in nb}) == 1:
                frames.append(LocalFrame(THREE_FOLD, z=cand[0], x=cand[1], y=cand[2]) if len(nb) == 3
                              else LocalFrame(NO_AXIS))
            else:
                frames.append(x_choice(i, cand[0], cand[1:]))
    return frames


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def rotation_matrix(frame: LocalFrame, i: int, positions: np.ndarray) -> np.ndarray:
    """Rows: the lab-frame x, y, z axes of atom ``i``'s local frame (identity for NoAxisType)."""
    if frame.axis_type == NO_AXIS:
        return np.eye(3)
    pos = np.asarray(positions, dtype=float)
    z = _unit(pos[frame.z] - pos[i])
    if frame.axis_type == Z_ONLY:
        x = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.866 else np.array([0.0, 1.0, 0.0])
    else:
        x = pos[frame.x] - pos[i]
        if frame.axis_type == BISECTOR:
            z = _unit(z + _unit(x))
        elif frame.axis_type == Z_BISECT:
            x = _unit(_unit(x) + _unit(pos[frame.y] - pos[i]))
        elif frame.axis_type == THREE_FOLD:
            z = _unit(z + _unit(x) + _unit(pos[frame.y] - pos[i]))
    x = _unit(x - z * np.dot(z, x))
    return np.vstack([x, np.cross(z, x), z])


def to_local(frames: Sequence[LocalFrame], positions: np.ndarray, dipoles: np.ndarray,
             quadrupoles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab-frame dipoles (n, 3) and quadrupoles (n, 3, 3) rotated into each atom's local frame."""
    rot = np.array([rotation_matrix(f, i, positions) for i, f in enumerate(frames)])
    return (np.einsum("aij,aj->ai", rot, dipoles),
            np.einsum("aij,ajk,alk->ail", rot, quadrupoles, rot))


def to_lab(frames: Sequence[LocalFrame], positions: np.ndarray, dipoles: np.ndarray,
           quadrupoles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local-frame dipoles and quadrupoles rotated back into the lab frame at ``positions``."""
    rot = np.array([rotation_matrix(f, i, positions) for i, f in enumerate(frames)])
    return (np.einsum("aji,aj->ai", rot, dipoles),
            np.einsum("aji,ajk,akl->ail", rot, quadrupoles, rot))


def average_equivalent(values: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Replace each atom's value (any trailing shape) by the mean over its symmetry class."""
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    cls = np.asarray(classes)
    for c in np.unique(cls):
        members = cls == c
        out[members] = values[members].mean(axis=0)
    return out
