"""Point-multipole electrostatics (charge, dipole, quadrupole) and Thole-damped polarisation.

Conventions (OpenMM AMOEBA's): quadrupoles Q are the traceless Buckingham Theta divided by 3 (e nm^2), so
the potential of a site is phi(x) = q T - mu.grad T + Q:grad grad T with T = 1/|x - r_i|. For a pair
with s = r_j - r_i and radial kernel functions B_0 = g(s), B_{n+1} = -(1/s) dB_n/ds the energy is

    E = B0 qi qj + B1 (qj di - qi dj + mi.mj)
        + B2 (-di dj + qj si + qi sj + 2 mj.Qi s - 2 mi.Qj s + 2 Qi:Qj)
        + B3 (-dj si + di sj - 4 (Qi s).(Qj s)) + B4 si sj,

with di = mi.s, si = s.Qi.s. g = 1/s gives the bare sum, g = erfc(alpha s)/s Ewald's real space.
Thole damping (AMOEBA's, u = s / (alpha_i alpha_j)^(1/6), a = min(a_i, a_j)) multiplies B1, B2, B3 by
lambda3 = 1 - exp(-a u^3), lambda5 = 1 - (1 + a u^3) exp(-a u^3),
lambda7 = 1 - (1 + a u^3 + 0.6 a^2 u^6) exp(-a u^3) in every interaction that involves an induced dipole.

Exclusions: intramolecular permanent-permanent and permanent-induced pairs are removed completely
(their erfc part and the reciprocal part, i.e. the bare interaction is subtracted); intramolecular
induced-induced pairs stay, damped. Energies are in kJ/mol (ONE_4PI_EPS0 applied here).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfc

from phyneo_flows.ff import pme
from phyneo_flows.ff.neighbors import minimum_image
from phyneo_flows.units import ONE_4PI_EPS0

SQRT_PI = float(np.sqrt(np.pi))


def b_bare(r: jnp.ndarray) -> list[jnp.ndarray]:
    """B_0..B_4 of the bare Coulomb kernel 1/r."""
    inv2 = 1.0 / (r * r)
    out = [1.0 / r]
    for n in range(1, 5):
        out.append((2 * n - 1) * out[-1] * inv2)
    return out


def b_erfc(r: jnp.ndarray, alpha: float) -> list[jnp.ndarray]:
    """B_0..B_4 of the Ewald real-space kernel erfc(alpha r)/r."""
    inv2 = 1.0 / (r * r)
    ex = jnp.exp(-((alpha * r) ** 2)) / (alpha * SQRT_PI)
    out = [erfc(alpha * r) / r]
    fac = 1.0
    for n in range(1, 5):
        fac *= 2.0 * alpha * alpha
        out.append(((2 * n - 1) * out[-1] + fac * ex) * inv2)
    return out


def thole_lambdas(
    r: jnp.ndarray, pol_i: jnp.ndarray, pol_j: jnp.ndarray, a_i: jnp.ndarray, a_j: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """AMOEBA's damping factors (lambda3, lambda5, lambda7); 1 where a polarisability is 0 or a u^3 > 50."""
    damp = (pol_i * pol_j) ** (1.0 / 6.0)
    ok = damp > 0
    ratio = r / jnp.where(ok, damp, 1.0)
    au3 = jnp.minimum(a_i, a_j) * ratio**3
    use = ok & (au3 < 50.0)
    au3 = jnp.where(use, au3, 0.0)
    e = jnp.exp(-au3)
    l3 = jnp.where(use, 1.0 - e, 1.0)
    l5 = jnp.where(use, 1.0 - (1.0 + au3) * e, 1.0)
    l7 = jnp.where(use, 1.0 - (1.0 + au3 + 0.6 * au3 * au3) * e, 1.0)
    return l3, l5, l7


def pair_energy(qi, mi, Qi, qj, mj, Qj, s, B) -> jnp.ndarray:
    """Energy (e^2/nm, no Coulomb constant) of multipoles i and j, s = r_j - r_i, kernel functions B."""
    di = jnp.sum(mi * s, -1)
    dj = jnp.sum(mj * s, -1)
    qis = jnp.einsum("pab,pb->pa", Qi, s)
    qjs = jnp.einsum("pab,pb->pa", Qj, s)
    si = jnp.sum(qis * s, -1)
    sj = jnp.sum(qjs * s, -1)
    e = B[0] * qi * qj
    e = e + B[1] * (qj * di - qi * dj + jnp.sum(mi * mj, -1))
    e = e + B[2] * (
        -di * dj
        + qj * si
        + qi * sj
        + 2.0 * jnp.sum(mj * qis, -1)
        - 2.0 * jnp.sum(mi * qjs, -1)
        + 2.0 * jnp.sum(Qi * Qj, axis=(-1, -2))
    )
    e = e + B[3] * (-dj * si + di * sj - 4.0 * jnp.sum(qis * qjs, -1))
    e = e + B[4] * si * sj
    return e


def dipole_energy(mi, qj, mj, Qj, s, B) -> jnp.ndarray:
    """pair_energy with a pure dipole on i (q = 0, Q = 0); B[0] and B[4] are not used."""
    di = jnp.sum(mi * s, -1)
    dj = jnp.sum(mj * s, -1)
    qjs = jnp.einsum("pab,pb->pa", Qj, s)
    sj = jnp.sum(qjs * s, -1)
    return (
        B[1] * (qj * di + jnp.sum(mi * mj, -1))
        + B[2] * (-di * dj - 2.0 * jnp.sum(mi * qjs, -1))
        + B[3] * di * sj
    )


def dipole_dipole(mi, mj, s, B) -> jnp.ndarray:
    """Energy of two point dipoles (kernel B[1], B[2])."""
    return B[1] * jnp.sum(mi * mj, -1) - B[2] * jnp.sum(mi * s, -1) * jnp.sum(mj * s, -1)


# ---------------------------------------------------------------------------------------------------------
# Ewald reciprocal space


def kvectors(box: np.ndarray, alpha: float, precision: float = 1e-14) -> np.ndarray:
    """Integer k-vectors of half of k-space (one of each +k/-k pair) with exp(-k^2/4a^2) > precision.

    ``box`` rows are the box vectors (nm). The set depends on the box only through its size, so a box
    that changes by a small strain keeps the same integer vectors (the sum stays differentiable).
    """
    box = np.asarray(box, dtype=float)
    recip = 2.0 * np.pi * np.linalg.inv(box).T
    kcut = 2.0 * alpha * np.sqrt(-np.log(precision))
    nmax = [int(np.ceil(kcut / np.linalg.norm(recip[d]))) + 1 for d in range(3)]
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in nmax], indexing="ij"), -1).reshape(-1, 3)
    half = (
        (grid[:, 0] > 0)
        | ((grid[:, 0] == 0) & (grid[:, 1] > 0))
        | ((grid[:, 0] == 0) & (grid[:, 1] == 0) & (grid[:, 2] > 0))
    )
    grid = grid[half]
    k = grid @ recip
    keep = np.linalg.norm(k, axis=1) <= kcut
    return grid[keep].astype(np.float64)


@dataclass(frozen=True)
class Recip:
    """Precomputed reciprocal-space quantities for one configuration."""

    k: jnp.ndarray  # (K, 3) 1/nm
    weight: jnp.ndarray  # (K,) 2 * (2 pi / V) exp(-k^2/4a^2)/k^2 (the 2: half of k-space)
    cos: jnp.ndarray  # (K, N)
    sin: jnp.ndarray  # (K, N)


def make_recip(positions: jnp.ndarray, box: jnp.ndarray, nvec: jnp.ndarray, alpha: float) -> Recip:
    recip = 2.0 * jnp.pi * jnp.linalg.inv(box).T
    k = nvec @ recip
    k2 = jnp.sum(k * k, -1)
    vol = jnp.abs(jnp.linalg.det(box))
    weight = 2.0 * (2.0 * jnp.pi / vol) * jnp.exp(-k2 / (4.0 * alpha * alpha)) / k2
    phase = k @ positions.T
    return Recip(k=k, weight=weight, cos=jnp.cos(phase), sin=jnp.sin(phase))


def structure_factor(rc: Recip, q, mu, Q) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Real and imaginary parts of S(k) = sum_j (q_j + i mu_j.k - Q_j:kk) exp(i k.r_j)."""
    a = q[None, :] - jnp.einsum("ka,nab,kb->kn", rc.k, Q, rc.k) if Q is not None else q[None, :]
    b = rc.k @ mu.T
    re = jnp.sum(a * rc.cos - b * rc.sin, axis=1)
    im = jnp.sum(a * rc.sin + b * rc.cos, axis=1)
    return re, im


def self_energy(q, mu, Q, alpha: float) -> jnp.ndarray:
    """Ewald self energy (e^2/nm) of point multipoles."""
    a2 = alpha * alpha
    return -(alpha / SQRT_PI) * (
        jnp.sum(q * q) + (2.0 * a2 / 3.0) * jnp.sum(mu * mu) + (8.0 * a2 * a2 / 5.0) * jnp.sum(Q * Q)
    )


# ---------------------------------------------------------------------------------------------------------
# the electrostatic energy as a function of the induced dipoles


@dataclass(frozen=True)
class PairGeom:
    """Geometry and kernels of a list of pairs (masked entries have weight 0)."""

    i: jnp.ndarray
    j: jnp.ndarray
    s: jnp.ndarray  # (P, 3) r_j - r_i (minimum image)
    mask: jnp.ndarray  # (P,) float 0/1
    b_ewald: list  # B_n of erfc (PBC) or bare (isolated) kernel
    b_bare: list
    lam: tuple  # (lambda3, lambda5, lambda7)


def pair_geometry(positions, box, i, j, valid, cutoff, alpha, pol, thole) -> PairGeom:
    s = minimum_image(positions[j] - positions[i], box)
    r2 = jnp.sum(s * s, -1)
    ok = valid & (r2 < cutoff * cutoff) if cutoff is not None else valid
    r = jnp.sqrt(jnp.where(ok, r2, 1.0))
    s = jnp.where(ok[:, None], s, jnp.array([1.0, 0.0, 0.0]))
    bb = b_bare(r)
    be = b_erfc(r, alpha) if box is not None else bb
    lam = thole_lambdas(r, pol[i], pol[j], thole[i], thole[j])
    return PairGeom(i=i, j=j, s=s, mask=ok.astype(s.dtype), b_ewald=be, b_bare=bb, lam=lam)


def _damped(b: list, lam: tuple, minus_one: bool) -> list:
    l3, l5, l7 = lam
    if minus_one:
        return [None, (l3 - 1.0) * b[1], (l5 - 1.0) * b[2], (l7 - 1.0) * b[3], None]
    return [None, l3 * b[1], l5 * b[2], l7 * b[3], None]


def inter_terms(g: PairGeom, q, mu_p, Q, mu_i) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(permanent, polarisation) energy of intermolecular pairs, e^2/nm."""
    i, j, s = g.i, g.j, g.s
    perm = pair_energy(q[i], mu_p[i], Q[i], q[j], mu_p[j], Q[j], s, g.b_ewald)
    # polarisation: undamped Ewald part plus the (lambda - 1) bare correction
    bl = _damped(g.b_bare, g.lam, True)
    pol = (
        dipole_energy(mu_i[i], q[j], mu_p[j], Q[j], s, g.b_ewald)
        + dipole_energy(mu_i[j], q[i], mu_p[i], Q[i], -s, g.b_ewald)
        + dipole_dipole(mu_i[i], mu_i[j], s, g.b_ewald)
        + dipole_energy(mu_i[i], q[j], mu_p[j], Q[j], s, bl)
        + dipole_energy(mu_i[j], q[i], mu_p[i], Q[i], -s, bl)
        + dipole_dipole(mu_i[i], mu_i[j], s, bl)
    )
    return jnp.sum(g.mask * perm), jnp.sum(g.mask * pol)


def intra_terms(g: PairGeom, q, mu_p, Q, mu_i, periodic: bool) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(permanent, polarisation) energy of intramolecular pairs: only the damped induced-induced coupling
    survives; under PBC the Ewald parts of the excluded interactions are cancelled here."""
    i, j, s = g.i, g.j, g.s
    pol = dipole_dipole(mu_i[i], mu_i[j], s, _damped(g.b_bare, g.lam, False))
    if not periodic:
        return jnp.zeros(()), jnp.sum(g.mask * pol)
    # erfc part minus bare = -erf part of every excluded interaction
    diff = [e - b for e, b in zip(g.b_ewald, g.b_bare, strict=True)]
    perm = pair_energy(q[i], mu_p[i], Q[i], q[j], mu_p[j], Q[j], s, diff)
    pol = pol + (
        dipole_energy(mu_i[i], q[j], mu_p[j], Q[j], s, diff)
        + dipole_energy(mu_i[j], q[i], mu_p[i], Q[i], -s, diff)
        + dipole_dipole(mu_i[i], mu_i[j], s, g.b_ewald)
        - dipole_dipole(mu_i[i], mu_i[j], s, g.b_bare)
    )
    return jnp.sum(g.mask * perm), jnp.sum(g.mask * pol)


def electrostatic_parts(
    inter: PairGeom, intra: PairGeom, rc: Recip | None, alpha: float, q, mu_p, Q, mu_i
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(permanent, polarisation interaction) electrostatic energies in kJ/mol for induced dipoles mu_i.

    The polarisation part excludes the self energy sum mu^2 / (2 alpha) of the induced dipoles.
    """
    periodic = rc is not None
    p1, x1 = inter_terms(inter, q, mu_p, Q, mu_i)
    p2, x2 = intra_terms(intra, q, mu_p, Q, mu_i, periodic)
    perm = p1 + p2
    pol = x1 + x2
    if isinstance(rc, pme.PmeSetup):
        rec_p = pme.reciprocal_energy(rc, q, mu_p, Q)
        rec_t = pme.reciprocal_energy(rc, q, mu_p + mu_i, Q)
        self_p = self_energy(q, mu_p, Q, alpha)
        self_t = self_energy(q, mu_p + mu_i, Q, alpha)
        perm = perm + rec_p + self_p
        pol = pol + (rec_t - rec_p) + (self_t - self_p)
    elif periodic:
        re_p, im_p = structure_factor(rc, q, mu_p, Q)
        re_i, im_i = structure_factor(rc, jnp.zeros_like(q), mu_i, None)
        rec_p = jnp.sum(rc.weight * (re_p**2 + im_p**2))
        rec_t = jnp.sum(rc.weight * ((re_p + re_i) ** 2 + (im_p + im_i) ** 2))
        self_p = self_energy(q, mu_p, Q, alpha)
        self_t = self_energy(q, mu_p + mu_i, Q, alpha)
        perm = perm + rec_p + self_p
        pol = pol + (rec_t - rec_p) + (self_t - self_p)
    return ONE_4PI_EPS0 * perm, ONE_4PI_EPS0 * pol


def induced_induced(inter: PairGeom, intra: PairGeom, rc, alpha: float, mu_i) -> jnp.ndarray:
    """The part of :func:`electrostatic_parts`' polarisation energy that is quadratic in the induced dipoles
    (induced-induced couplings, their reciprocal and self terms), kJ/mol. Its gradient is the linear
    operator of the induced-dipole equations, free of the permanent multipoles."""
    i, j, s = inter.i, inter.j, inter.s
    e = jnp.sum(
        inter.mask
        * (
            dipole_dipole(mu_i[i], mu_i[j], s, inter.b_ewald)
            + dipole_dipole(mu_i[i], mu_i[j], s, _damped(inter.b_bare, inter.lam, True))
        )
    )
    ii, jj, si = intra.i, intra.j, intra.s
    e_in = dipole_dipole(mu_i[ii], mu_i[jj], si, _damped(intra.b_bare, intra.lam, False))
    if rc is not None:
        e_in = (
            e_in
            + dipole_dipole(mu_i[ii], mu_i[jj], si, intra.b_ewald)
            - dipole_dipole(mu_i[ii], mu_i[jj], si, intra.b_bare)
        )
    e = e + jnp.sum(intra.mask * e_in)
    if isinstance(rc, pme.PmeSetup):
        e = e + pme.reciprocal_energy(rc, None, mu_i, None)
    elif rc is not None:
        re_i, im_i = structure_factor(rc, jnp.zeros(mu_i.shape[0]), mu_i, None)
        e = e + jnp.sum(rc.weight * (re_i**2 + im_i**2))
    if rc is not None:
        e = e + self_energy(jnp.zeros(mu_i.shape[0]), mu_i, jnp.zeros((mu_i.shape[0], 3, 3)), alpha)
    return ONE_4PI_EPS0 * e


def solve_induced(
    pol_energy, polarizability, tol: float, max_iter: int, quadratic=None, guess=None
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Minimise U(mu) = pol_energy(mu) + sum mu^2/(2 alpha) by preconditioned conjugate gradients.

    The iteration starts from ``guess`` (e nm; e.g. the previous MD step's dipoles) when it is given and not
    all zeros, else from the direct dipoles alpha E_permanent.

    ``pol_energy`` is quadratic in mu. ``quadratic`` (optional) is its part that is quadratic in mu alone
    (no linear term): the conjugate-gradient products then use it and skip the permanent multipoles.
    Stops when the RMS of alpha times the residual field (the dipole change of one Jacobi step, e nm) is
    below ``tol``. Returns (mu, number of iterations).
    """
    has = polarizability > 0
    alpha = jnp.where(has, polarizability, 0.0)[:, None]
    inv_alpha = jnp.where(has, 1.0 / jnp.where(has, polarizability, 1.0), 0.0)[:, None]
    grad = jax.grad(pol_energy)
    zero = jnp.zeros((polarizability.shape[0], 3))
    g0 = grad(zero)
    field = -g0  # permanent field times ONE_4PI_EPS0 scale, kJ/mol/(e nm)
    grad_q = jax.grad(quadratic) if quadratic is not None else None

    def hess(v):
        if grad_q is not None:
            return v * inv_alpha + grad_q(v)
        return v * inv_alpha + grad(v) - g0

    mu = alpha * field
    if guess is not None:
        mu = jnp.where(jnp.any(guess != 0), jnp.where(has[:, None], guess, 0.0), mu)
    r = field - hess(mu)
    z = alpha * r
    p = z
    rz = jnp.sum(r * z)
    n = mu.shape[0]

    def err(r):
        return jnp.sqrt(jnp.sum((alpha * r) ** 2) / n)

    def cond(state):
        _, r, _, _, it = state
        return (err(r) > tol) & (it < max_iter)

    def body(state):
        mu, r, p, rz, it = state
        hp = hess(p)
        step = rz / jnp.sum(p * hp)
        mu = mu + step * p
        r = r - step * hp
        z = alpha * r
        rz_new = jnp.sum(r * z)
        p = z + (rz_new / rz) * p
        return mu, r, p, rz_new, it + 1

    mu, r, _, _, it = jax.lax.while_loop(cond, body, (mu, r, p, rz, 0))
    return mu, it
