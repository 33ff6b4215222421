"""Fast physics checks against independent references: OpenMM's LJ forces, the pair-virial formula,
Maxwell-Boltzmann kinetic energies (CSVR) and the exact ideal-gas NPT volume distribution (MC barostat)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from phyneo_flows.md.integrators import Integrator, MDConfig, repartition_hydrogen_masses
from phyneo_flows.md.potential import cubic_lattice, evaluate, from_energy_fn, lennard_jones
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K

SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948


def _lj_liquid(n_side=4, seed=0):
    length = (n_side**3 / 0.8442) ** (1 / 3) * SIGMA
    rng = np.random.default_rng(seed)
    pos = cubic_lattice(n_side, length / n_side) + rng.normal(0, 0.01, (n_side**3, 3))
    return pos, np.eye(3) * length


def test_lj_energy_and_forces_match_openmm():
    openmm = pytest.importorskip("openmm")
    unit = pytest.importorskip("openmm.unit")
    pos, box = _lj_liquid()
    rc = 0.7
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in box])
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(rc)
    nb.setUseDispersionCorrection(False)
    nb.setReactionFieldDielectric(1.0)
    for _ in pos:
        system.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPSILON)
    system.addForce(nb)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(pos)
    st = ctx.getState(getEnergy=True, getForces=True)
    e_ref = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    f_ref = np.asarray(st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="none"))
    terms, e, f, _ = evaluate(pot, jnp.asarray(pos), jnp.asarray(box), None)
    assert float(e) == pytest.approx(e_ref, rel=1e-9)
    assert np.max(np.abs(np.asarray(f) - f_ref)) < 1e-7 * np.max(np.abs(f_ref))


def test_autodiff_virial_equals_pair_virial():
    pos, box = _lj_liquid()
    rc = 0.7
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="force"))
    _, _, _, virial = evaluate(pot, jnp.asarray(pos), jnp.asarray(box), None)
    # W_ab = sum_{i<j} r_ij,a f_ij,b with the force-shifted LJ pair force, written out by hand
    length = box[0, 0]
    w = np.zeros((3, 3))
    n = len(pos)
    for i in range(n):
        d = pos[i] - pos[i + 1 :]
        d -= length * np.round(d / length)
        r = np.linalg.norm(d, axis=1)
        ok = r < rc

        def du(x):
            return 4 * EPSILON * (-12 * SIGMA**12 / x**13 + 6 * SIGMA**6 / x**7)

        fmag = -(du(r[ok]) - du(rc))  # force on i along d/r
        w += np.einsum("pa,pb->ab", d[ok], (fmag / r[ok])[:, None] * d[ok])
    assert np.allclose(np.asarray(virial), w, rtol=1e-9, atol=1e-9)


def _harmonic(k=500.0, centres=None):
    c = jnp.asarray(centres)

    def energy(pos, box):
        return 0.5 * k * jnp.sum((pos - c) ** 2)

    return from_energy_fn(energy, name="harmonic")


def test_csvr_kinetic_energy_follows_maxwell_boltzmann():
    n, temp = 32, 300.0
    masses = np.linspace(1.0, 40.0, n)
    centres = np.random.default_rng(1).uniform(0, 2, (n, 3))
    cfg = MDConfig(
        ensemble="nvt",
        timestep_ps=0.002,
        temperature_k=temp,
        tau_t_ps=0.05,
        report_interval=5,
        frames_per_chunk=400,
        seed=3,
    )
    integ = Integrator(_harmonic(centres=centres), masses, cfg)
    state = integ.init_state(centres, np.eye(3) * 5.0)
    state, _ = integ.chunk(state, cfg.timestep_ps)  # equilibrate
    kin, vel = [], []
    for _ in range(4):
        state, obs = integ.chunk(state, cfg.timestep_ps)
        kin.append(np.asarray(obs["kinetic_energy"]))
        vel.append(np.asarray(state.velocities) * np.sqrt(masses / (BOLTZMANN_KJ_MOL_K * temp))[:, None])
    kin = np.concatenate(kin)
    kt, nf = BOLTZMANN_KJ_MOL_K * temp, 3 * n - 3
    # canonical kinetic energy: Gamma(nf/2, kT); mean nf kT/2, variance nf (kT)^2 / 2
    sem = np.sqrt(nf / 2) * kt / np.sqrt(len(kin) / 4)  # frames 10 fs apart, tau 50 fs: ~4 frames/sample
    assert abs(kin.mean() - nf * kt / 2) < 4 * sem
    assert kin.var() == pytest.approx(nf * kt**2 / 2, rel=0.2)
    assert stats.kstest(kin / kt, stats.gamma(nf / 2).cdf).pvalue > 1e-3
    assert stats.kstest(np.concatenate(vel).ravel(), "norm").pvalue > 1e-3


def _group_temperatures(thermostat: str) -> tuple[float, float]:
    """Uncoupled harmonic atoms, 8 light (stiff: 26 fs period) and 8 heavy (soft), started with all the kinetic
    energy in the heavy ones; mean kinetic temperature (K) of each group, sampled every 20 fs over 10 ps after
    2 ps under the thermostat at 300 K."""
    n, temp = 16, 300.0
    masses = np.array([1.0] * 8 + [100.0] * 8)
    centres = np.random.default_rng(2).uniform(0, 2, (n, 3))
    cfg = MDConfig(ensemble="nvt", timestep_ps=0.001, temperature_k=temp, thermostat=thermostat, tau_t_ps=0.1,
                   friction_per_ps=2.0, report_interval=20, frames_per_chunk=1, seed=5)
    integ = Integrator(_harmonic(k=60000.0, centres=centres), masses, cfg)
    vel = np.random.default_rng(4).normal(size=(n, 3)) * np.sqrt(2 * BOLTZMANN_KJ_MOL_K * temp / masses)[:, None]
    vel[:8] = 0.0
    vel -= (masses[:, None] * vel).sum(0) / masses.sum()
    state = integ.init_state(centres, np.eye(3) * 5.0, velocities=vel)
    temps = []
    for k in range(600):
        state, _ = integ.chunk(state, cfg.timestep_ps)
        if k >= 100:
            v2 = masses[:, None] * np.asarray(state.velocities) ** 2
            temps.append((v2[:8].sum(), v2[8:].sum()))
    light, heavy = np.mean(temps, axis=0) / (3 * 8 * BOLTZMANN_KJ_MOL_K)
    return float(light), float(heavy)


def test_langevin_brings_every_mode_to_the_bath_and_csvr_does_not():
    """Equipartition (each quadratic degree of freedom kT/2 on average) is what a local thermostat restores and
    a global rescaling cannot: on uncoupled oscillators CSVR only rescales the light atoms' zero velocities."""
    light, heavy = _group_temperatures("langevin")
    # the thermostat keeps the total momentum at zero: 3 degrees of freedom fewer, shared by mass fraction f
    # (heavy f = 800/808), so a group's equipartition temperature is 300 (24 - 3 f) / 24 K: 299.6 and 262.9 K.
    # One group mean has ~4 % statistical error (24 degrees of freedom, ~40 independent samples).
    f_heavy = 800.0 / 808.0
    assert light == pytest.approx(300.0 * (24 - 3 * (1 - f_heavy)) / 24, rel=0.12)
    assert heavy == pytest.approx(300.0 * (24 - 3 * f_heavy) / 24, rel=0.12)
    light, heavy = _group_temperatures("csvr")
    assert light < 150.0 and heavy > 400.0  # measured 90 and 480 K


def test_mc_barostat_samples_ideal_gas_volume_distribution():
    """N free particles at (T, P): p(V) ~ V^N exp(-PV/kT), i.e. V ~ Gamma(N + 1, kT / P)."""
    n, temp, p_bar = 10, 300.0, 400.0
    kt = BOLTZMANN_KJ_MOL_K * temp
    scale = kt / (p_bar * BAR_NM3_TO_KJ_MOL)  # nm^3
    pot = from_energy_fn(lambda pos, box: 0.0 * jnp.sum(pos), name="ideal")
    cfg = MDConfig(
        ensemble="npt",
        timestep_ps=0.001,
        temperature_k=temp,
        pressure_bar=p_bar,
        barostat_interval=1,
        report_interval=2,
        frames_per_chunk=5000,
        seed=11,
    )
    integ = Integrator(pot, np.full(n, 10.0), cfg)
    start = np.random.default_rng(2).uniform(0, 1, (n, 3)) * np.cbrt((n + 1) * scale)
    state = integ.init_state(start, np.eye(3) * np.cbrt((n + 1) * scale))
    state, _ = integ.chunk(state, cfg.timestep_ps)
    vols = []
    for _ in range(2):
        state, obs = integ.chunk(state, cfg.timestep_ps)
        vols.append(np.asarray(obs["volume"]))
    v = np.concatenate(vols)
    blocks = v.reshape(20, -1).mean(1)
    sem = blocks.std(ddof=1) / np.sqrt(len(blocks))
    assert abs(v.mean() - (n + 1) * scale) < 4 * sem + 0.01 * (n + 1) * scale
    assert v.var() == pytest.approx((n + 1) * scale**2, rel=0.15)


def test_hydrogen_mass_repartitioning_keeps_total_mass():
    masses = np.array([12.011, 1.008, 1.008, 1.008, 15.999, 1.008])  # methanol
    bonds = [(0, 1), (0, 2), (0, 3), (0, 4), (4, 5)]
    m = repartition_hydrogen_masses(masses, bonds, 3.024)
    assert m.sum() == pytest.approx(masses.sum())
    assert np.allclose(m[[1, 2, 3, 5]], 3.024)
    assert m[0] == pytest.approx(12.011 - 3 * 2.016)
