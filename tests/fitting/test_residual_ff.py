"""The residual network as a force-field term: the ForceField hook and the OpenMM PythonForce twin."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from residual_synthetic import scans  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.fitting.residual import ResidualConfig, train_residual  # noqa: E402

FF_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc"


@pytest.fixture(scope="module")
def ensemble():
    cfg = ResidualConfig(ensemble_size=2, hidden=(16, 16), max_epochs=30, patience=30)
    return train_residual(scans(8, seed=1), scans(2, seed=2, first_scan=20), None, None, cfg)


@pytest.fixture(scope="module")
def cluster():
    """EC, Li+, EC (isolated): names, charges, symbols, molecule index, positions (nm)."""
    recs = scans(2, points=3, seed=7, contacts=(0.19, 0.3))
    a, b = recs[1], recs[4]
    ec2 = b.positions_a_nm - b.positions_b_nm[0] + a.positions_b_nm[0]
    sym = list(a.symbols_a) + ["Li"] + list(b.symbols_a)
    mol = [0] * 10 + [1] + [2] * 10
    return ["EC", "Li+", "EC"], [0, 1, 0], sym, mol, np.concatenate([a.positions_a_nm, a.positions_b_nm, ec2])


def test_forcefield_hook_adds_a_named_term(ensemble, cluster):
    from phyneo_flows.ff.model import ForceField
    from phyneo_flows.ff.params import load_params

    names, charges, sym, mol, pos = cluster
    params = load_params(FF_FIXTURE)
    term = ensemble.energy_term(sym, mol, names, charges)
    plain = ForceField(params, names).compute(pos)
    with_nn = ForceField(params, names, extra_terms={"residual_nn": term}).compute(pos)
    e_nn = float(term(pos))
    assert abs(e_nn) > 1e-3
    assert with_nn["terms"]["residual_nn"] == pytest.approx(e_nn, abs=1e-9)
    assert with_nn["total"] == pytest.approx(plain["total"] + e_nn, abs=1e-7)
    f_nn = -np.asarray(jax.grad(term)(jnp.asarray(pos)))
    np.testing.assert_allclose(with_nn["forces"], plain["forces"] + f_nn, atol=1e-6)
    with pytest.raises(InputError, match="extra_terms"):
        ForceField(params, names, extra_terms={"bonded": term})


def _openmm_state(force, pos, masses, box=None):
    import openmm
    from openmm import unit

    system = openmm.System()
    for m in masses:
        system.addParticle(m)
    if box is not None:
        system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in box])
    system.addForce(force)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pos)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            np.asarray(st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)))


def test_pythonforce_agrees_with_jax_isolated(ensemble, cluster):
    pytest.importorskip("openmm")
    from phyneo_flows.fitting.openmm_residual import residual_force

    names, charges, sym, mol, pos = cluster
    masses = [{"H": 1.008, "C": 12.011, "O": 15.999, "Li": 6.94}[s] for s in sym]
    e_mm, f_mm = _openmm_state(residual_force(ensemble, sym, mol, names, charges), pos, masses)
    term = ensemble.energy_term(sym, mol, names, charges)
    e_jax = float(term(pos))
    f_jax = -np.asarray(jax.grad(term)(jnp.asarray(pos)))
    assert e_mm == pytest.approx(e_jax, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(f_mm, f_jax, rtol=1e-7, atol=1e-7)
    assert np.abs(f_jax).max() > 1.0


def test_pythonforce_agrees_with_jax_periodic_across_the_boundary(ensemble, cluster):
    """The cluster in a 1.4 nm box with the Li+ wrapped to the far side: minimum image in both codes, and the
    same energy as the unwrapped isolated cluster."""
    pytest.importorskip("openmm")
    from phyneo_flows.fitting.openmm_residual import residual_force

    names, charges, sym, mol, pos = cluster
    L = 1.4
    box = np.eye(3) * L
    wrapped = pos - pos[10] + np.array([0.05, 0.7, 0.7])  # Li+ near the x = 0 face
    wrapped = wrapped - np.floor(wrapped / L) * L
    masses = [{"H": 1.008, "C": 12.011, "O": 15.999, "Li": 6.94}[s] for s in sym]
    force = residual_force(ensemble, sym, mol, names, charges, periodic=True)
    e_mm, f_mm = _openmm_state(force, wrapped, masses, box)
    term = ensemble.energy_term(sym, mol, names, charges)
    e_jax = float(term(wrapped, box))
    f_jax = -np.asarray(jax.grad(term)(jnp.asarray(wrapped), box))
    assert e_jax == pytest.approx(float(term(pos)), abs=1e-9)
    assert e_mm == pytest.approx(e_jax, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(f_mm, f_jax, rtol=1e-7, atol=1e-7)
