"""Physical-validation tier (slow): energy conservation and its dt^2 scaling in NVE, and NPT volume
fluctuations consistent with the compressibility from the equation of state (two pressures)."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.md.integrators import Integrator, MDConfig
from phyneo_flows.md.potential import cubic_lattice, from_energy_fn, lennard_jones
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K

pytestmark = pytest.mark.slow
SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948
T_LJ = EPSILON / BOLTZMANN_KJ_MOL_K  # 120 K
P_LJ = EPSILON / SIGMA**3 / BAR_NM3_TO_KJ_MOL  # 420 bar


def _argon(n_side: int, density: float):
    length = (n_side**3 / density) ** (1 / 3) * SIGMA
    return cubic_lattice(n_side, length / n_side), np.eye(3) * length


def _nve_energy(dt: float, total_ps: float, pos, box, vel, rc):
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="force"))
    every = max(1, int(round(0.02 / dt)))
    frames = int(round(total_ps / (dt * every)))
    cfg = MDConfig(ensemble="nve", timestep_ps=dt, report_interval=every, frames_per_chunk=frames)
    integ = Integrator(pot, np.full(len(pos), MASS), cfg)
    state = integ.init_state(pos, box, vel)
    state, obs = integ.chunk(state, dt)
    return np.asarray(obs["time"]), np.asarray(obs["conserved_energy"]), np.asarray(obs["temperature"])


def test_nve_drift_and_dt_squared_scaling():
    pos, box = _argon(5, 0.8442)
    rc = 0.45 * box[0, 0]
    cfg = MDConfig(
        ensemble="nvt", timestep_ps=0.004, temperature_k=0.722 * T_LJ, report_interval=50, frames_per_chunk=20
    )
    integ = Integrator(
        from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="force")), np.full(125, MASS), cfg
    )
    state, _ = integ.chunk(integ.init_state(pos, box), 0.004)  # melt and equilibrate 4 ps
    pos, vel = np.asarray(state.positions), np.asarray(state.velocities)
    t1, e1, temp = _nve_energy(0.004, 20.0, pos, box, vel, rc)
    _, e2, _ = _nve_energy(0.002, 20.0, pos, box, vel, rc)
    nf, kt = 3 * 125 - 3, BOLTZMANN_KJ_MOL_K * temp.mean()
    drift = np.polyfit(t1, e1, 1)[0] * 1000 / (kt * nf)  # kT per degree of freedom per ns
    assert abs(drift) < 0.01
    ratio = np.std(e1) / np.std(e2)
    assert 3.2 < ratio < 4.8  # velocity Verlet: fluctuations of the shadow energy go as dt^2


def _npt_volumes(pressure_bar: float, temperature_k: float, seed: int, n_frames: int):
    pos, box = _argon(5, 0.7)
    pot = from_energy_fn(
        lennard_jones(SIGMA, EPSILON, 0.45 * box[0, 0] * 0.95, shift="energy", tail_correction=True)
    )
    cfg = MDConfig(
        ensemble="npt",
        timestep_ps=0.005,
        temperature_k=temperature_k,
        pressure_bar=pressure_bar,
        barostat_interval=5,
        report_interval=25,
        frames_per_chunk=200,
        seed=seed,
    )
    integ = Integrator(pot, np.full(125, MASS), cfg)
    state, _ = integ.chunk(integ.init_state(pos, box), 0.005)
    vols = []
    while sum(len(v) for v in vols) < n_frames:
        state, obs = integ.chunk(state, 0.005)
        vols.append(np.asarray(obs["volume"]))
    return np.concatenate(vols)


def test_npt_volume_fluctuations_match_the_compressibility():
    """kappa_T from <dV^2> / (kT <V>) at each pressure agrees with -d ln<V>/dP between the two pressures
    (the thermodynamic-consistency check of physical_validation, Merz and Shirts, PLoS ONE 2018)."""
    temp = 1.5 * T_LJ
    p1, p2 = 2.0 * P_LJ, 2.6 * P_LJ
    v1, v2 = _npt_volumes(p1, temp, 1, 2000), _npt_volumes(p2, temp, 2, 2000)
    kt = BOLTZMANN_KJ_MOL_K * temp
    kappa_fluct = np.mean([v.var() / (kt * v.mean()) for v in (v1, v2)])  # nm^3 / (kJ/mol)
    kappa_eos = -(np.log(v2.mean()) - np.log(v1.mean())) / ((p2 - p1) * BAR_NM3_TO_KJ_MOL)
    assert kappa_fluct == pytest.approx(kappa_eos, rel=0.25)
