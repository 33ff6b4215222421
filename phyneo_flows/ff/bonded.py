"""Intramolecular bonded terms, OpenMM's forms: harmonic bonds k/2 (r - r0)^2, harmonic angles
k/2 (theta - theta0)^2, periodic torsions k (1 + cos(n phi - phase)), and one-sided walls below r0 (OpenMM
CustomBondForce, ``WALL_EXPRESSION``): harmonic k/2 (d - w/2)^2 + k w^2/24 in the penetration d = r0 - r, entered
through a cubic k d^3 / (6 w) over the first ``WALL_ONSET_NM`` = w, so the energy is C2 where the wall starts.
kJ/mol, nm, rad.

Positions are used unwrapped (molecules must be whole), as OpenMM's bonded forces do by default.
"""

from __future__ import annotations

import jax.numpy as jnp


def bond_energy(pos, idx, r0, k):
    if idx.shape[0] == 0:
        return jnp.zeros(())
    r = jnp.linalg.norm(pos[idx[:, 1]] - pos[idx[:, 0]], axis=1)
    return jnp.sum(0.5 * k * (r - r0) ** 2)


def angle_energy(pos, idx, theta0, k):
    if idx.shape[0] == 0:
        return jnp.zeros(())
    v1 = pos[idx[:, 0]] - pos[idx[:, 1]]
    v2 = pos[idx[:, 2]] - pos[idx[:, 1]]
    c = jnp.linalg.norm(jnp.cross(v1, v2), axis=1)
    d = jnp.sum(v1 * v2, axis=1)
    theta = jnp.arctan2(c, d)
    return jnp.sum(0.5 * k * (theta - theta0) ** 2)


def dihedral(pos, idx):
    """IUPAC dihedral angle (rad) of atoms (a, b, c, d)."""
    b0 = pos[idx[:, 1]] - pos[idx[:, 0]]
    b1 = pos[idx[:, 2]] - pos[idx[:, 1]]
    b2 = pos[idx[:, 3]] - pos[idx[:, 2]]
    n1 = jnp.cross(b0, b1)
    n2 = jnp.cross(b1, b2)
    b1n = b1 / jnp.linalg.norm(b1, axis=1, keepdims=True)
    m = jnp.cross(n1, b1n)
    x = jnp.sum(n1 * n2, axis=1)
    y = jnp.sum(m * n2, axis=1)
    return -jnp.arctan2(y, x)


def torsion_energy(pos, idx, n, phase, k):
    if idx.shape[0] == 0:
        return jnp.zeros(())
    phi = dihedral(pos, idx)
    return jnp.sum(k * (1.0 + jnp.cos(n * phi - phase)))


WALL_ONSET_NM = 0.005
"""Width of the walls' cubic onset. Until session 13 the walls were k/2 (r0 - r)^2 from r0 on (C1: the curvature
jumped from 0 to k = 5e4 kJ/mol/nm^2 where they start, at a penetration that thermal motion crosses all the
time, about 0.01 nm), a kink for velocity Verlet. Beyond the onset the wall is the harmonic one shifted by w/2:
7 % less energy in the rigid trans-trans scan of DMC (185 / 674 against 200 / 726 kJ/mol at 120 / 180 degrees;
HF/6-31G* 225.5 / 903.0). NVE at 1 fs from one state of the 38-atom box, 30 ps each: drift -0.0161 kT/dof/ns and
E rms 0.077 kJ/mol with the onset, -0.0194 and 0.171 without (docs/performance.md)."""

WALL_EXPRESSION = ("select(step(d - w), 0.5*k*(d - 0.5*w)^2 + k*w^2/24, k*d^3/(6*w)); d = max(0, r0 - r); "
                   f"w = {WALL_ONSET_NM!r}")
"""The same wall as an OpenMM CustomBondForce expression (per-bond parameters r0, k)."""


def wall_energy(pos, idx, r0, k, onset_nm: float = WALL_ONSET_NM):
    """One-sided walls in the penetration d = r0 - r: k d^3 / (6 w) for d < w, k/2 (d - w/2)^2 + k w^2/24
    beyond (C2 everywhere: value, force and curvature continuous, at d = 0 and d = w); zero for r >= r0.
    ``onset_nm`` 0 gives the plain one-sided harmonic k/2 d^2 (C1 at r0)."""
    if idx.shape[0] == 0:
        return jnp.zeros(())
    r = jnp.linalg.norm(pos[idx[:, 1]] - pos[idx[:, 0]], axis=1)
    d = jnp.maximum(r0 - r, 0.0)
    if onset_nm <= 0:
        return jnp.sum(0.5 * k * d**2)
    w = onset_nm
    cubic = k * jnp.minimum(d, w) ** 3 / (6.0 * w)
    beyond = jnp.maximum(d - w, 0.0)
    # beyond the onset: k w^2/6 + (k w/2) x + (k/2) x^2 with x = d - w, the same as k/2 (d - w/2)^2 + k w^2/24
    return jnp.sum(cubic + 0.5 * k * w * beyond + 0.5 * k * beyond**2)
