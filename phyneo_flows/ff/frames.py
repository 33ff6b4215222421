"""Local multipole frames rotated to the lab frame, following OpenMM's AmoebaMultipoleForce exactly.

With unit vectors u_z, u_x, u_y from the atom to its frame atoms (raw position differences, no periodic
wrapping, as OpenMM does; molecules must be whole):

- ZThenX: z = u_z, x = u_x
- Bisector: z = norm(u_z + u_x), x = u_x
- ZBisect: z = u_z, x = norm(u_x + u_y)
- ThreeFold: z = norm(u_z + u_x + u_y), x = u_x
- ZOnly: z = u_z, x = (1, 0, 0) if |z_x| < 0.866 else (0, 1, 0)  (OpenMM's fixed reference)
- NoAxisType: the identity

then x is made orthogonal to z and normalised, y = z cross x. The rows (x, y, z) form R; the lab dipole is
R^T d and the lab quadrupole R^T Q R. No chirality flip is applied (frames never name a y atom for the
types that would use one).
"""

from __future__ import annotations

import jax.numpy as jnp


def _unit(v: jnp.ndarray, ok: jnp.ndarray) -> jnp.ndarray:
    """Normalise rows of v where ok; rows that are not ok become (0, 0, 1) (never NaN under grad)."""
    safe = jnp.where(ok[:, None], v, jnp.array([0.0, 0.0, 1.0]))
    return safe / jnp.linalg.norm(safe, axis=1, keepdims=True)


def rotation_matrices(positions: jnp.ndarray, axis: jnp.ndarray, frame: jnp.ndarray) -> jnp.ndarray:
    """(N, 3, 3) matrices whose rows are the lab-frame x, y, z axes of each atom's local frame."""
    n = positions.shape[0]
    idx = jnp.arange(n)
    has_z = frame[:, 0] >= 0
    has_x = frame[:, 1] >= 0
    has_y = frame[:, 2] >= 0
    vz = positions[jnp.where(has_z, frame[:, 0], idx)] - positions
    vx = positions[jnp.where(has_x, frame[:, 1], idx)] - positions
    vy = positions[jnp.where(has_y, frame[:, 2], idx)] - positions
    uz = _unit(vz, has_z)
    ux = _unit(vx, has_x)
    uy = _unit(vy, has_y)
    bis = axis == 1
    zbis = axis == 2
    three = axis == 3
    zonly = axis == 4
    none = (axis == 5) | ~has_z
    z = jnp.where(bis[:, None], _unit(uz + ux, bis), uz)
    z = jnp.where(three[:, None], _unit(uz + ux + uy, three), z)
    ref = jnp.where(
        (jnp.abs(z[:, 0]) < 0.866)[:, None], jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
    )
    x = jnp.where(zonly[:, None], ref, ux)
    x = jnp.where(zbis[:, None], _unit(ux + uy, zbis), x)
    x = x - z * jnp.sum(z * x, axis=1, keepdims=True)
    x = _unit(x, ~none)
    y = jnp.cross(z, x)
    rot = jnp.stack([x, y, z], axis=1)
    return jnp.where(none[:, None, None], jnp.eye(3), rot)


def lab_multipoles(
    positions: jnp.ndarray,
    dipole_local: jnp.ndarray,
    quadrupole_local: jnp.ndarray,
    axis: jnp.ndarray,
    frame: jnp.ndarray,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Lab-frame dipoles (N, 3) and quadrupoles (N, 3, 3) from local-frame ones."""
    rot = rotation_matrices(positions, axis, frame)
    dip = jnp.einsum("nji,nj->ni", rot, dipole_local)
    quad = jnp.einsum("nki,nkl,nlj->nij", rot, quadrupole_local, rot)
    return dip, quad
