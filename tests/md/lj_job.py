"""A small Lennard-Jones (argon) MD job run as a subprocess by the kill-and-resume test.

Usage: python lj_job.py DIRECTORY N_STEPS ENSEMBLE
"""

from __future__ import annotations

import sys

import numpy as np

from phyneo_flows.md.backend import JaxBackend
from phyneo_flows.md.guard import GuardConfig
from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.md.potential import cubic_lattice, from_energy_fn, lennard_jones
from phyneo_flows.md.runner import MDRunner

SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948  # argon, nm, kJ/mol, amu


def lj_backend(
    ensemble: str,
    n_side: int = 3,
    density: float = 0.8442,
    temperature_k: float = 86.5,
    dt: float = 0.005,
    report_interval: int = 5,
    frames_per_chunk: int = 2,
    seed: int = 7,
    pressure_bar: float = 1000.0,
) -> JaxBackend:
    """Argon at reduced density ``density`` on a cubic lattice, cutoff just under half the box."""
    length = (n_side**3 / density) ** (1 / 3) * SIGMA
    pos = cubic_lattice(n_side, length / n_side)
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, min(2.5 * SIGMA, 0.49 * length)), name="lj")
    cfg = MDConfig(
        ensemble=ensemble,
        timestep_ps=dt,
        temperature_k=temperature_k,
        pressure_bar=pressure_bar,
        report_interval=report_interval,
        frames_per_chunk=frames_per_chunk,
        seed=seed,
        barostat_interval=5,
    )
    return JaxBackend(pot, np.full(len(pos), MASS), pos, np.eye(3) * length, cfg)


if __name__ == "__main__":
    directory, n_steps, ensemble = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    MDRunner(
        lj_backend(ensemble),
        directory,
        checkpoint_interval_chunks=2,
        write_velocities=True,
        guard=GuardConfig(max_volume_change=2.0),
    ).run(n_steps)
