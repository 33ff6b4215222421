"""Smooth PME for multipoles (phyneo_flows.ff.pme) against the plain Ewald reciprocal sum (an independent
route: explicit k-vectors, no grid) and, for the whole force field, against OpenMM's AMOEBA PME."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from phyneo_flows.ff import pme  # noqa: E402
from phyneo_flows.ff.multipoles import kvectors, make_recip, structure_factor  # noqa: E402

ALPHA = 3.5  # 1/nm


def _system(n: int, box: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 1, (n, 3)) @ box
    q = rng.normal(scale=0.5, size=n)
    q -= q.mean()
    mu = rng.normal(scale=0.01, size=(n, 3))
    Q = rng.normal(scale=0.002, size=(n, 3, 3))
    Q = Q + np.swapaxes(Q, 1, 2)
    Q -= np.eye(3)[None] * np.trace(Q, axis1=1, axis2=2)[:, None, None] / 3
    return jnp.asarray(pos), jnp.asarray(q), jnp.asarray(mu), jnp.asarray(Q)


def _ewald(pos, box, q, mu, Q, nvec):
    rc = make_recip(pos, box, nvec, ALPHA)
    re, im = structure_factor(rc, q, mu, Q)
    return jnp.sum(rc.weight * (re**2 + im**2))


def _pme(pos, box, q, mu, Q, shape):
    return pme.reciprocal_energy(pme.setup(pos, box, shape, ALPHA), q, mu, Q)


BOXES = {
    "cubic": np.eye(3) * 2.0,
    "triclinic": np.array([[2.0, 0.0, 0.0], [0.4, 1.9, 0.0], [-0.3, 0.5, 2.2]]),
}


def _rms_rel(g, g_ref) -> float:
    return float(jnp.sqrt(jnp.mean((g - g_ref) ** 2) / jnp.mean(g_ref**2)))


@pytest.mark.parametrize("kind", list(BOXES))
def test_pme_energy_forces_virial_match_the_ewald_sum(kind):
    box = jnp.asarray(BOXES[kind])
    pos, q, mu, Q = _system(24, np.asarray(box), seed=1)
    nvec = jnp.asarray(kvectors(np.asarray(box), ALPHA, 1e-16))
    e_ref, (g_ref, h_ref) = jax.value_and_grad(_ewald, argnums=(0, 1))(pos, box, q, mu, Q, nvec)
    shape = pme.grid_for(np.asarray(box), 0.02)
    e, (g, h) = jax.value_and_grad(_pme, argnums=(0, 1))(pos, box, q, mu, Q, shape)
    assert float(e) == pytest.approx(float(e_ref), rel=2e-6)
    # reciprocal-only forces of random quadrupoles: the 4th spline derivative is what limits them
    assert _rms_rel(g, g_ref) < 2e-3
    w_ref = pos.T @ g_ref + box.T @ h_ref  # dE/d(strain): E(r(1+e), h(1+e))
    w = pos.T @ g + box.T @ h
    assert float(jnp.max(jnp.abs(w - w_ref)) / jnp.max(jnp.abs(w_ref))) < 2e-5


@pytest.mark.parametrize("part", ["charges", "dipoles", "quadrupoles"])
def test_each_multipole_order_converges_to_the_ewald_sum(part):
    """Each order alone (a wrong derivative or frame factor on one order cannot hide behind another):
    the energy agrees on a fine grid and the force error shrinks by more than 4 when the spacing halves
    (a wrong factor would leave an error that does not shrink)."""
    box = jnp.asarray(BOXES["triclinic"])
    pos, q, mu, Q = _system(16, np.asarray(box), seed=2)
    z = jnp.zeros_like
    args = {"charges": (q, z(mu), z(Q)), "dipoles": (z(q), mu, z(Q)), "quadrupoles": (z(q), z(mu), Q)}[part]
    nvec = jnp.asarray(kvectors(np.asarray(box), ALPHA, 1e-16))
    e_ref, g_ref = jax.value_and_grad(_ewald)(pos, box, *args, nvec)
    errs = []
    for h in (0.04, 0.02):
        e, g = jax.value_and_grad(_pme)(pos, box, *args, pme.grid_for(np.asarray(box), h))
        errs.append(_rms_rel(g, g_ref))
    assert float(e) == pytest.approx(float(e_ref), rel=1e-6)
    assert errs[1] < errs[0] / 4


def test_bspline_weights_partition_unity_and_derivatives():
    w = jnp.linspace(0.0, 0.999, 7)
    th = pme.bsplines(w)
    assert np.allclose(np.sum(th[:, 0], -1), 1.0, atol=1e-14)
    assert np.allclose(np.sum(th[:, 1], -1), 0.0, atol=1e-14)
    assert np.allclose(np.sum(th[:, 2], -1), 0.0, atol=1e-14)
    d = jax.vmap(jax.jacfwd(lambda x: pme.bsplines(x)[0]))(w)
    assert np.allclose(d, th[:, 1], atol=1e-12)
    d2 = jax.vmap(jax.jacfwd(lambda x: pme.bsplines(x)[1]))(w)
    assert np.allclose(d2, th[:, 2], atol=1e-12)
