"""Synthetic Li+-EC dimers labelled by a known Buckingham pair term, for the residual-network tests."""

from __future__ import annotations

import functools

import numpy as np

from phyneo_flows.fitting.data import DimerRecord

# Buckingham between Li+ and each EC atom: A exp(-r / rho) - C / r^6 (kJ/mol, nm)
A = {"O": 3.0e4, "C": 1.5e4, "H": 5.0e3}
RHO = 0.03
C6 = {"O": 6e-4, "C": 8e-4, "H": 3e-4}


@functools.lru_cache(maxsize=1)
def ec_geometry() -> tuple[tuple[str, ...], np.ndarray]:
    from phyneo_flows.chem.molecule import build_molecule

    t = build_molecule("EC")
    pos = np.asarray(t.positions_nm)
    return tuple(t.symbols), pos - pos.mean(0)


def buckingham(symbols, ec_pos, li_pos) -> float:
    r = np.linalg.norm(ec_pos - li_pos, axis=1)
    return float(sum(A[s] * np.exp(-ri / RHO) - C6[s] / ri**6 for s, ri in zip(symbols, r, strict=True)))


def random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def scans(n_scans: int, points: int = 10, seed: int = 0, contacts=(0.17, 0.55), first_scan: int = 0,
          directions: np.ndarray | None = None) -> list[DimerRecord]:
    """COM scans of Li+ around a rigid EC: per scan a random direction, closest contact from ``contacts`` (nm).
    ``directions`` (n_scans, 3) fixes the directions instead."""
    rng = np.random.default_rng(seed)
    sym, ec = ec_geometry()
    out = []
    for s in range(n_scans):
        u = rng.normal(size=3) if directions is None else np.asarray(directions[s], float)
        u /= np.linalg.norm(u)
        rot = random_rotation(rng)
        pos_a = ec @ rot.T + rng.normal(size=3)  # arbitrary placement: translation invariance is exercised
        com = pos_a.mean(0)
        for p, contact in enumerate(np.linspace(*contacts, points)):
            # distance along u at which the closest EC atom is at `contact`
            lo, hi = 0.0, 2.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if np.min(np.linalg.norm(pos_a - (com + mid * u), axis=1)) < contact:
                    lo = mid
                else:
                    hi = mid
            li = com + hi * u
            e = buckingham(sym, pos_a, li)
            comps = {k: 0.0 for k in ("electrostatics", "exchange", "induction", "delta_hf", "dispersion")}
            comps["total"] = e
            out.append(DimerRecord(pair_type="Li+-EC", scan=first_scan + s, point=p, species_a="EC",
                                   species_b="Li+", symbols_a=sym, symbols_b=("Li",), positions_a_nm=pos_a,
                                   positions_b_nm=li[None, :], charge_a=0, charge_b=1, components_kj_mol=comps,
                                   closest_contact_a=10 * contact))
    return out
