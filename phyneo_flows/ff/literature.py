"""Literature-like starting parameters for LiPF6 in EC/DMC, until the QM stage provides fitted ones.

Run ``python -m phyneo_flows.ff.literature OUT_DIR`` to write ``OUT_DIR/params.json`` (this is how
``fixtures/ff/lipf6_ec_dmc`` was made; its README gives the origin of every number). Each value carries
its source in the file itself.
"""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.ff.bonded import dihedral
from phyneo_flows.ff.params import (
    SLATER_COMPONENTS,
    AngleTerm,
    Bonded,
    BondTerm,
    ForceFieldParams,
    Frame,
    MoleculeParams,
    TorsionTerm,
    TypeParams,
    Value,
    WallTerm,
    save_params,
    value,
)
from phyneo_flows.units import BOHR_TO_NM, HARTREE_TO_KJ_MOL

AU_C6 = HARTREE_TO_KJ_MOL * BOHR_TO_NM**6  # 1 Eh bohr^6 in kJ/mol nm^6
Z = {"H": 1, "Li": 3, "C": 6, "O": 8, "F": 9, "P": 15}

SRC_Q = "OPLS-AA/CL&P-like point charges (EC, DMC: OPLS-style carbonate; PF6-: Canongia Lopes & Padua 2004)"
SRC_MP = "illustrative axial atomic dipole/quadrupole magnitudes (AMOEBA-like), until MBIS from the QM stage"
SRC_POL = "AMOEBA/Thole-style atomic polarisability by element (Ren & Ponder 2003; Li+ from AMOEBA ion set)"
SRC_THOLE = "AMOEBA Thole damping a = 0.39"
SRC_C6 = "dftd4-like atomic C6 magnitude by element (a.u., converted); Li+ from its small polarisability"
SRC_C8 = "C8 = C6 * f (f = 0.05 nm^2 heavy atoms, 0.03 H, 0.02 Li+); C10 = 49/40 C8^2/C6 (Tang-Toennies)"
SRC_B = "Slater-ISA B by element, magnitude of Van Vleet et al. JCTC 2016 / PhyNEO (30-45 1/nm)"
SRC_A = (
    "Slater A_exchange: C, O as set, H, F, P so that net Slater + damped dispersion of a like pair crosses "
    "zero at the OPLS-AA/CL&P sigma; Li+ so that Li+...O=C(EC) has its minimum at 0.20 nm (Li-O RDF peak); "
    "other components 0.5/0.3/0.2/0.2 of A_exchange per atom, i.e. 0.25/0.09/0.04/0.04 per pair, "
    "so the pair sum is +0.58 A_exchange,i A_exchange,j (a repulsive wall)"
)
SRC_BOND = "r0/theta0 from the RDKit ETKDG+MMFF94 conformer of the species stage; generic force constants"
SRC_IMPROPER = ("out-of-plane term of a planar three-bonded centre, AMBER/GAFF form k (1 + cos(2 phi - 180 deg)): "
                "k 10.5 kcal/mol on a carbonyl C (parm99/GAFF X-X-C-O), 1.1 kcal/mol otherwise (GAFF X-X-ca-X)")
SRC_CONJUGATED = ("2-fold torsion across the bond from a carbonyl C to a two-bonded O or N (ester, carbonate, amide), "
                  "GAFF X-c-os-X: 5.40 kcal/mol over 4 paths, 1.35 kcal/mol a torsion, phase 180 deg")
SRC_ESTER = ("1-fold torsion O=C-O-C across an acyclic ester/carbonate C-O bond, minimum at the conformer's "
             "dihedral (cis in DMC): k from HF/6-31G* relaxed cis-trans vs cis-cis DMC "
             "(fixtures/ff/make_dmc_conformers.py)")
# HF/6-31G* relaxed DMC: cis-trans 15.82 kJ/mol above cis-cis; the other generic terms give 4.00 of it at those
# geometries, so one flipped O=C-O-C torsion carries the rest: 2 k = 11.82
ESTER_ONEFOLD_KJ_MOL = 5.91
IMPROPER_CARBONYL_KJ_MOL = 10.5 * 4.184
IMPROPER_OTHER_KJ_MOL = 1.1 * 4.184
CONJUGATED_TORSION_KJ_MOL = 5.40 / 4 * 4.184
PLANAR_TOLERANCE_NM = 0.01  # a three-bonded atom this close to its neighbours' plane is a planar (sp2) centre
SRC_WALL = ("intramolecular steric wall between atoms 4 or more bonds apart: r0 = 0.75 (R_i + R_j) (Bondi radii), "
            "at most 0.95 of their distance in the conformer; k so that a rigid HF/6-31G* scan of DMC to "
            "trans-trans (methyl H...H 1.0-0.9 A) is matched to within 20 % (tests/ff/test_generic_bonded.py)")
# Bondi, J. Phys. Chem. 1964 (Li: Mantina et al. 2009), nm
BONDI_RADIUS_NM = {"H": 0.120, "Li": 0.182, "C": 0.170, "N": 0.155, "O": 0.152, "F": 0.147, "P": 0.180,
                   "S": 0.180, "Cl": 0.175, "B": 0.192, "Na": 0.227}
WALL_RADIUS_FRACTION = 0.75
WALL_CONFORMER_FRACTION = 0.95
WALL_K_KJ_MOL_NM2 = 5.0e4
WALL_MIN_BONDS = 4

ELEMENT = {
    #      pol (nm^3)  C6 (au) C8 factor B (1/nm) A_exchange
    "H": (0.496e-3, 3.0, 0.03, 36.0, 14.5),
    "C": (1.334e-3, 25.0, 0.05, 34.0, 70.0),
    "O": (0.837e-3, 12.0, 0.05, 37.0, 50.0),
    "F": (0.507e-3, 7.0, 0.05, 38.0, 49.0),
    "P": (1.828e-3, 80.0, 0.05, 31.0, 80.0),
    "Li": (0.028e-3, 0.08, 0.02, 45.0, 300.0),
}
# axial multipoles by element: dipole along local z (e nm), Q_zz (e nm^2, OpenMM convention)
AXIAL = {
    "H": (-0.0015, 0.00005),
    "C": (0.001, 0.0002),
    "O": (0.004, -0.0003),
    "F": (0.002, -0.0002),
    "P": (0.0, 0.0),
    "Li": (0.0, 0.0),
}
# Per-atom fractions; the pair term scales with their squares, and the attractive squares must sum below 1
# (they were 0.85/0.5/0.4/0.35, whose squares sum to 1.255: every pair was net attractive and boxes collapsed).
A_FRACTION = {"exchange": 1.0, "electrostatics": 0.5, "induction": 0.3, "dispersion": 0.2, "dhf": 0.2}

CHARGES = {
    "EC": {"EC_O1": -0.55, "EC_C1": 0.85, "EC_O2": -0.45, "EC_C2": 0.05, "EC_H1": 0.125},
    "DMC": {"DMC_C2": 0.80, "DMC_O2": -0.56, "DMC_O1": -0.40, "DMC_C1": 0.02, "DMC_H1": 0.52 / 6},
    "Li+": {"Li+_Li1": 1.0},
    "PF6-": {"PF6-_P1": 1.34, "PF6-_F1": -0.39},
}


def assign_frames(symbols: list[str], bonds: list[tuple[int, int]], pos: np.ndarray) -> list[Frame]:
    """Local frames from the bond graph: ions NoAxisType; terminal atoms ZThenX (z: neighbour, x: its
    heaviest other neighbour not collinear with z) or ZOnly; two neighbours Bisector; more ZThenX on the
    two heaviest."""
    nbr: list[list[int]] = [[] for _ in symbols]
    for i, j in bonds:
        nbr[i].append(j)
        nbr[j].append(i)

    def ranked(atoms: list[int]) -> list[int]:
        return sorted(atoms, key=lambda a: (-Z[symbols[a]], a))

    frames = []
    for i, ns in enumerate(nbr):
        if not ns:
            frames.append(Frame(axis="NoAxisType"))
        elif len(ns) == 1:
            c = ns[0]
            others = [a for a in ranked([a for a in nbr[c] if a != i]) if _bent(pos[i], pos[c], pos[a])]
            frames.append(
                Frame(axis="ZThenX", z=ns[0], x=others[0]) if others else Frame(axis="ZOnly", z=ns[0])
            )
        elif len(ns) == 2:
            a, b = sorted(ns)
            frames.append(Frame(axis="Bisector", z=a, x=b))
        else:
            r = ranked(ns)
            x = next(a for a in r[1:] if _bent(pos[r[0]], pos[i], pos[a]))
            frames.append(Frame(axis="ZThenX", z=r[0], x=x))
    return frames


def _bent(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """True when the angle a-b-c is below 170 degrees (a frame from a collinear atom is undefined)."""
    v1, v2 = a - b, c - b
    return bool(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2) > np.cos(np.deg2rad(170)))


def type_params(element: str, charge: float) -> TypeParams:
    pol, c6au, f8, b, a_ex = ELEMENT[element]
    c6 = c6au * AU_C6
    c8 = c6 * f8
    c10 = 49.0 / 40.0 * c8 * c8 / c6
    d, qzz = AXIAL[element]
    quad = np.diag([-qzz / 2, -qzz / 2, qzz])
    vals = {
        "charge": value(charge, "charge", SRC_Q),
        "dipole": value([0.0, 0.0, d], "dipole", SRC_MP),
        "quadrupole": value(quad, "quadrupole", SRC_MP),
        "polarizability": value(pol, "polarizability", SRC_POL),
        "thole": value(0.39, "thole", SRC_THOLE),
        "C6": value(c6, "C6", SRC_C6),
        "C8": value(c8, "C8", SRC_C8),
        "C10": value(c10, "C10", SRC_C8),
        "B": value(b, "B", SRC_B),
    }
    for c in SLATER_COMPONENTS:
        vals[f"A_{c}"] = value(a_ex * A_FRACTION[c], f"A_{c}", SRC_A)
    return TypeParams(**vals)


def planar_centres(symbols: list[str], nbr: list[set[int]], pos: np.ndarray) -> dict[int, bool]:
    """Three-bonded atoms lying in their neighbours' plane in the conformer (sp2), each with True when it is a
    carbonyl-like C (one neighbour an O bonded to nothing else)."""
    out = {}
    for b, ns in enumerate(nbr):
        if len(ns) != 3:
            continue
        a, c, d = (pos[k] for k in sorted(ns))
        normal = np.cross(c - a, d - a)
        if np.linalg.norm(normal) < 1e-12:
            continue
        if abs((pos[b] - a) @ normal) / np.linalg.norm(normal) < PLANAR_TOLERANCE_NM:
            out[b] = symbols[b] == "C" and any(symbols[k] == "O" and len(nbr[k]) == 1 for k in ns)
    return out


def generic_bonded(symbols: list[str], bonds: list[tuple[int, int]], pos: np.ndarray) -> Bonded:
    """Harmonic bonds/angles at the conformer's geometry; 3-fold torsions of 0.5 kJ/mol; on every planar
    three-bonded centre an improper torsion that keeps it planar (AMBER/GAFF form and force constants), and
    2-fold torsions across the bonds from a carbonyl C to a two-bonded O or N (ester, carbonate, amide
    conjugation), plus a 1-fold O=C-O-C term across the acyclic ones that keeps the conformer's cis or trans form
    (DMC's cis-trans 15.8 kJ/mol above cis-cis, HF/6-31G*). Without the impropers a carbonate's C pyramidalised
    by 0.43 A (median) in the DMC liquid and opened it to O...C contacts of 1.9-2.1 A; without the 1-fold term
    6 of 34 DMC turned cis-trans (large dipole) within 26 ps and the liquid densified again. Atoms 4 or more
    bonds apart get a one-sided steric wall (the model has no intramolecular non-bonded terms): without it a
    trans-trans DMC (its methyl H 0.9 A apart) cost 12 kJ/mol against HF's 903, and one DMC of a 50-ps liquid
    sat there with its methyl C 1.54 A apart."""
    nbr: list[set[int]] = [set() for _ in symbols]
    for i, j in bonds:
        nbr[i].add(j)
        nbr[j].add(i)

    def angle(a, b, c):
        v1, v2 = pos[a] - pos[b], pos[c] - pos[b]
        return float(np.arccos(np.clip(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2), -1, 1)))

    out = Bonded()
    for i, j in bonds:
        k = 3.0e5 if "H" in (symbols[i], symbols[j]) else 2.5e5
        out.bonds.append(
            BondTerm(
                atoms=(i, j),
                r0=Value(value=float(np.linalg.norm(pos[i] - pos[j])), unit="nm", source=SRC_BOND),
                k=Value(value=k, unit="kJ/mol/nm^2", source=SRC_BOND),
            )
        )
    straight = set()
    for b in range(len(symbols)):
        for a, c in combinations(sorted(nbr[b]), 2):
            th = angle(a, b, c)
            if th > np.deg2rad(170):
                straight.add((a, b, c))
                straight.add((c, b, a))
                continue
            out.angles.append(
                AngleTerm(
                    atoms=(a, b, c),
                    theta0=Value(value=th, unit="rad", source=SRC_BOND),
                    k=Value(value=400.0, unit="kJ/mol/rad^2", source=SRC_BOND),
                )
            )
    for b, c in bonds:
        for a in sorted(nbr[b] - {c}):
            for d in sorted(nbr[c] - {b}):
                if a == d or (a, b, c) in straight or (b, c, d) in straight:
                    continue
                out.torsions.append(
                    TorsionTerm(
                        atoms=(a, b, c, d),
                        periodicity=3,
                        phase=Value(value=0.0, unit="rad", source=SRC_BOND),
                        k=Value(value=0.5, unit="kJ/mol", source=SRC_BOND),
                    )
                )
    planar = planar_centres(symbols, nbr, pos)
    for b, carbonyl in planar.items():  # AMBER order: the centre third
        n1, n2, n3 = sorted(nbr[b])
        k = IMPROPER_CARBONYL_KJ_MOL if carbonyl else IMPROPER_OTHER_KJ_MOL
        out.torsions.append(TorsionTerm(atoms=(n1, n2, b, n3), periodicity=2,
                                        phase=Value(value=float(np.pi), unit="rad", source=SRC_IMPROPER),
                                        k=Value(value=k, unit="kJ/mol", source=SRC_IMPROPER)))
    for i, j in bonds:
        for b, c in ((i, j), (j, i)):
            if not planar.get(b) or symbols[c] not in ("O", "N") or len(nbr[c]) != 2:
                continue
            acyclic = not _connected(nbr, b, c, without=(b, c))
            for a in sorted(nbr[b] - {c}):
                for d in sorted(nbr[c] - {b}):
                    out.torsions.append(TorsionTerm(atoms=(a, b, c, d), periodicity=2,
                                                    phase=Value(value=float(np.pi), unit="rad", source=SRC_CONJUGATED),
                                                    k=Value(value=CONJUGATED_TORSION_KJ_MOL, unit="kJ/mol",
                                                            source=SRC_CONJUGATED)))
                    if acyclic and symbols[a] == "O" and len(nbr[a]) == 1 and ESTER_ONEFOLD_KJ_MOL > 0:
                        # k (1 + cos(phi - phase)): minimum where the conformer is (0 or 180 deg)
                        cis = abs(float(dihedral(pos, np.array([[a, b, c, d]]))[0])) < np.pi / 2
                        out.torsions.append(TorsionTerm(
                            atoms=(a, b, c, d), periodicity=1,
                            phase=Value(value=float(np.pi) if cis else 0.0, unit="rad", source=SRC_ESTER),
                            k=Value(value=ESTER_ONEFOLD_KJ_MOL, unit="kJ/mol", source=SRC_ESTER)))
    out.walls = steric_walls(symbols, nbr, pos)
    return out


def bond_separation(nbr: list[set[int]]) -> np.ndarray:
    """The number of bonds on the shortest path between every two atoms (a large number across molecules)."""
    n = len(nbr)
    sep = np.full((n, n), n + 1, dtype=int)
    for start in range(n):
        sep[start, start] = 0
        frontier = [start]
        while frontier:
            nxt = []
            for a in frontier:
                for b in nbr[a]:
                    if sep[start, b] > sep[start, a] + 1:
                        sep[start, b] = sep[start, a] + 1
                        nxt.append(b)
            frontier = nxt
    return sep


def steric_walls(symbols: list[str], nbr: list[set[int]], pos: np.ndarray) -> list[WallTerm]:
    """A one-sided harmonic wall between every two atoms ``WALL_MIN_BONDS`` or more bonds apart, at
    ``WALL_RADIUS_FRACTION`` of their summed Bondi radii but never above ``WALL_CONFORMER_FRACTION`` of their
    distance in the conformer (so it costs nothing there)."""
    sep = bond_separation(nbr)
    out = []
    for i, j in combinations(range(len(symbols)), 2):
        if sep[i, j] < WALL_MIN_BONDS:
            continue
        try:
            contact = WALL_RADIUS_FRACTION * (BONDI_RADIUS_NM[symbols[i]] + BONDI_RADIUS_NM[symbols[j]])
        except KeyError as e:
            raise InputError(f"no Bondi radius for element {e.args[0]!r}", field="symbols",
                             fix="add it to phyneo_flows.ff.literature.BONDI_RADIUS_NM") from None
        r0 = min(contact, WALL_CONFORMER_FRACTION * float(np.linalg.norm(pos[i] - pos[j])))
        out.append(WallTerm(atoms=(i, j), r0=Value(value=r0, unit="nm", source=SRC_WALL),
                            k=Value(value=WALL_K_KJ_MOL_NM2, unit="kJ/mol/nm^2", source=SRC_WALL)))
    return out


def _connected(nbr: list[set[int]], start: int, goal: int, without: tuple[int, int]) -> bool:
    """Whether ``goal`` is reachable from ``start`` without using the bond ``without`` (a ring bond)."""
    seen, stack = {start}, [start]
    while stack:
        a = stack.pop()
        for n in nbr[a]:
            if {a, n} == set(without) or n in seen:
                continue
            if n == goal:
                return True
            seen.add(n)
            stack.append(n)
    return False



def molecule_params(name: str) -> MoleculeParams:
    """Parameters of one species of the LiPF6/EC/DMC set from its species-stage template."""
    from phyneo_flows.chem import build_molecule

    mol = build_molecule(name)
    charges = CHARGES[name]
    types = {
        t: type_params(mol.symbols[mol.atom_types.index(t)], charges[t])
        for t in dict.fromkeys(mol.atom_types)
    }
    bonds = [tuple(b) for b in mol.bonds]
    pos = np.asarray(mol.positions_nm)
    return MoleculeParams(
        smiles=mol.smiles,
        symbols=list(mol.symbols),
        atom_types=list(mol.atom_types),
        bonds=bonds,
        frames=assign_frames(mol.symbols, bonds, pos),
        types=types,
        bonded=generic_bonded(mol.symbols, bonds, pos),
    )


def lipf6_ec_dmc() -> ForceFieldParams:
    return ForceFieldParams(
        description="Literature-like physics parameters for LiPF6 in EC/DMC (starting point before QM fits)",
        provenance={
            "generator": "phyneo_flows.ff.literature",
            "qm_jobs": [],
            "note": "no value here comes from a fit; see fixtures/ff/lipf6_ec_dmc/README.md",
        },
        molecules={n: molecule_params(n) for n in ("EC", "DMC", "Li+", "PF6-")},
    )


if __name__ == "__main__":
    out = save_params(lipf6_ec_dmc(), Path(sys.argv[1]) / "params.json")
    print(out)
