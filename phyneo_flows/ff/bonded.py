"""Intramolecular bonded terms, OpenMM's forms: harmonic bonds k/2 (r - r0)^2, harmonic angles
k/2 (theta - theta0)^2, periodic torsions k (1 + cos(n phi - phase)), and one-sided harmonic walls
k/2 (r0 - r)^2 below r0 (OpenMM CustomBondForce). kJ/mol, nm, rad.

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


def wall_energy(pos, idx, r0, k):
    """One-sided harmonic walls: k/2 (r0 - r)^2 where r < r0, zero (with zero force) beyond."""
    if idx.shape[0] == 0:
        return jnp.zeros(())
    r = jnp.linalg.norm(pos[idx[:, 1]] - pos[idx[:, 0]], axis=1)
    return jnp.sum(0.5 * k * jnp.minimum(r - r0, 0.0) ** 2)
