"""Displaced EC configurations labelled by an analytic harmonic bond + 1-3 pair energy (numpy, independent of
the JAX network code), for the intramolecular-network tests."""

from __future__ import annotations

import numpy as np

from phyneo_flows.fitting.intramolecular import MonomerConfig

K_BOND, K_13 = 2.0e5, 4.0e4  # kJ/mol/nm^2


def _pairs(pos):
    r = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    iu, ju = np.triu_indices(len(pos), 1)
    d = r[iu, ju]
    bond = d < 0.165
    close = (d >= 0.165) & (d < 0.26)
    return [(i, j, r0, K_BOND) for i, j, r0, b in zip(iu, ju, d, bond, strict=True) if b] + \
        [(i, j, r0, K_13) for i, j, r0, c in zip(iu, ju, d, close, strict=True) if c]


def energy_forces(pos, terms):
    e = 0.0
    f = np.zeros_like(pos)
    for i, j, r0, k in terms:
        d = pos[i] - pos[j]
        r = np.linalg.norm(d)
        e += k * (r - r0) ** 2
        g = 2 * k * (r - r0) * d / r
        f[i] -= g
        f[j] += g
    return e, f


def configurations(n: int, seed: int = 0, amplitude: float = 0.008) -> list[MonomerConfig]:
    from phyneo_flows.chem.molecule import build_molecule

    t = build_molecule("EC")
    ref = np.asarray(t.positions_nm)
    terms = _pairs(ref)
    rng = np.random.default_rng(seed)
    sigma = amplitude * np.sqrt(1.008 / np.asarray(t.masses_amu))
    out = []
    for _ in range(n):
        pos = ref + rng.normal(size=ref.shape) * sigma[:, None]
        e, f = energy_forces(pos, terms)
        out.append(MonomerConfig("EC", tuple(t.symbols), pos, e + 1000.0, f))
    return out
