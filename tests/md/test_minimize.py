"""Minimisation: a perturbed argon fcc crystal relaxes back to its lattice energy (analytic lattice sum)."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.md.minimize import minimize
from phyneo_flows.md.potential import from_energy_fn, lennard_jones

SIGMA, EPSILON = 0.3405, 0.99774


def _fcc(n: int, a: float) -> np.ndarray:
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return ((cells[:, None, :] + base[None]) * a).reshape(-1, 3)


@pytest.mark.parametrize("method", ["fire", "lbfgs"])
def test_perturbed_fcc_relaxes_to_the_lattice_energy(method):
    a = 2 ** (2 / 3) * SIGMA  # nearest-neighbour distance 2^(1/6) sigma
    pos = _fcc(2, a)
    box = np.eye(3) * 2 * a
    rc = 0.95 * a  # nearest neighbours only (12 per atom, at r0 = 2^(1/6) sigma), force-shifted at rc
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="force"))

    def u(r):
        return 4 * EPSILON * ((SIGMA / r) ** 12 - (SIGMA / r) ** 6)

    def du(r):
        return 4 * EPSILON * (-12 * SIGMA**12 / r**13 + 6 * SIGMA**6 / r**7)

    r0 = 2 ** (1 / 6) * SIGMA
    per_atom = 6 * (u(r0) - u(rc) - (r0 - rc) * du(rc))
    noisy = pos + np.random.default_rng(0).normal(0, 0.01, pos.shape)
    out, res = minimize(pot, noisy, box, max_force_kj_mol_nm=1e-3, max_iterations=5000, method=method)
    assert res.converged
    assert res.final_energy_kj_mol == pytest.approx(per_atom * len(pos), rel=1e-6, abs=1e-6)
    assert res.initial_energy_kj_mol > res.final_energy_kj_mol
