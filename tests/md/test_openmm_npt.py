"""Physical validation of the OpenMM back end in NPT (slow): the ensemble check of Shirts (J. Chem. Theory
Comput. 9, 909 (2013)) on the Monte Carlo barostat's volume distributions:
for two pressures at one temperature, ln P(V|p2)/P(V|p1) = const - (p2 - p1) V / kT exactly.

Lennard-Jones argon (125 atoms, a dense fluid at 1.5 epsilon/k), OpenMM's CPU platform, Langevin middle
integrator and MonteCarloBarostat through :class:`phyneo_flows.md.openmm_backend.OpenMMBackend`.
"""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.md.potential import cubic_lattice
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K

pytestmark = pytest.mark.slow
SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948
T_LJ = EPSILON / BOLTZMANN_KJ_MOL_K  # 120 K
P_LJ = EPSILON / SIGMA**3 / BAR_NM3_TO_KJ_MOL  # 420 bar


def _volumes(pressure_bar: float, temperature_k: float, seed: int, n_frames: int) -> np.ndarray:
    import openmm

    from phyneo_flows.md.openmm_backend import OpenMMBackend

    n_side = 5
    length = (n_side**3 / 0.7) ** (1 / 3) * SIGMA
    pos, box = cubic_lattice(n_side, length / n_side), np.eye(3) * length
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in box])
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(0.4 * length)
    nb.setUseDispersionCorrection(True)
    for _ in pos:
        system.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPSILON)
    system.addForce(nb)
    cfg = MDConfig(
        ensemble="npt", timestep_ps=0.005, temperature_k=temperature_k, pressure_bar=pressure_bar,
        barostat_interval=5, report_interval=25, frames_per_chunk=200, seed=seed, tau_t_ps=0.5,
    )
    backend = OpenMMBackend(system, pos, box, cfg, platform="CPU")
    backend.chunk()  # equilibration
    vols = []
    while sum(len(v) for v in vols) < n_frames:
        vols.append(backend.chunk()["observables"]["volume"])
    return np.concatenate(vols)


@pytest.fixture(scope="module")
def two_pressures():
    temp = 1.5 * T_LJ
    p1, p2 = 2.0 * P_LJ, 2.3 * P_LJ
    return temp, p1, p2, _volumes(p1, temp, 11, 4000), _volumes(p2, temp, 12, 4000)


def test_openmm_npt_volume_distributions_obey_the_ensemble_ratio(two_pressures):
    """Slope of ln(histogram ratio) vs V over the overlap equals -(p2 - p1)/kT (within 30 %)."""
    temp, p1, p2, v1, v2 = two_pressures
    kt = BOLTZMANN_KJ_MOL_K * temp
    lo, hi = np.percentile(v1, 2), np.percentile(v2, 98)  # v1 (lower pressure) lies at larger volumes
    assert hi > lo, "the two volume distributions do not overlap"
    edges = np.linspace(lo, hi, 9)
    h1, _ = np.histogram(v1, edges)
    h2, _ = np.histogram(v2, edges)
    ok = (h1 > 10) & (h2 > 10)
    assert ok.sum() >= 4
    centres = 0.5 * (edges[1:] + edges[:-1])
    w = 1.0 / (1.0 / h1[ok] + 1.0 / h2[ok])  # inverse variance of ln(h2/h1)
    slope = np.polyfit(centres[ok], np.log(h2[ok] / h1[ok]), 1, w=np.sqrt(w))[0]
    expected = -(p2 - p1) * BAR_NM3_TO_KJ_MOL / kt
    assert slope == pytest.approx(expected, rel=0.3)
