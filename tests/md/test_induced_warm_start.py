"""The MD state carries the induced dipoles: each step's solve starts from the last step's dipoles.

Checks that this changes nothing but the work: the same trajectory as solving from the direct dipoles (within
the solver tolerance), fewer conjugate-gradient iterations, and a checkpoint that holds the dipoles so that a
restored run continues bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc"
NAMES = ["DMC", "EC", "DMC"]


@pytest.fixture(scope="module")
def system():
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.ff.model import FFSettings, ForceField
    from phyneo_flows.ff.params import load_params

    centres = np.array([[0.45, 0.5, 0.5], [0.95, 0.55, 0.45], [0.6, 1.05, 0.6]])
    pos = np.concatenate([np.asarray(build_molecule(n).positions_nm) - np.asarray(build_molecule(n).positions_nm)
                          .mean(0) + c for n, c in zip(NAMES, centres, strict=True)])
    box = np.eye(3) * 1.8
    ff = ForceField(load_params(FIXTURE), NAMES, FFSettings(cutoff=0.7, induced_tolerance=1e-6))
    return ff, pos, box


def _backend(system, warm: bool):
    from phyneo_flows.md.backend import JaxBackend
    from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
    from phyneo_flows.md.integrators import MDConfig

    ff, pos, box = system
    cfg = MDConfig(ensemble="nvt", timestep_ps=0.0005, temperature_k=298.15, report_interval=5, frames_per_chunk=2)
    return JaxBackend(force_field_potential(ff, box, warm_start=warm), atom_masses(ff), pos, box, cfg,
                      molecules=ff.system.mol)


def _iterations(ff, state, guess):
    nvec, lrc = ff.ewald_vectors(state.box), ff.lrc_coefficient()
    return int(ff._terms(state.positions, state.box, state.aux["nbrs"], nvec, lrc, guess)["_iterations"])


@pytest.fixture(scope="module")
def runs(system):
    """A warm-started and a cold-started run, two chunks (20 steps) each; one compile per back end."""
    warm, cold = _backend(system, True), _backend(system, False)
    for _ in range(2):
        warm.chunk()
        cold.chunk()
    return warm, cold


def test_warm_started_dipoles_give_the_same_dynamics_in_fewer_iterations(system, runs):
    ff = system[0]
    warm, cold = runs
    # the trajectories agree to the solver's tolerance, not bit for bit
    np.testing.assert_allclose(np.asarray(warm.state.positions), np.asarray(cold.state.positions), atol=1e-7)
    assert abs(float(warm.state.energy) - float(cold.state.energy)) < 1e-3
    mu = np.asarray(warm.state.aux["induced"])
    assert np.abs(mu).max() > 1e-4  # real dipoles (e nm) are carried, not zeros
    # ten steps on: from the carried dipoles the solve needs fewer iterations than from the direct ones
    snapshot = warm.snapshot()
    warm.chunk()
    moved = warm.state
    assert _iterations(ff, moved, mu) < _iterations(ff, moved, None)
    warm.restore(snapshot)


def test_checkpoint_keeps_the_dipoles_and_a_restored_run_continues_bitwise(runs):
    warm = runs[0]
    payload = warm.snapshot()
    assert any("induced" in k for k in payload)
    warm.chunk()
    ahead = (np.asarray(warm.state.positions), np.asarray(warm.state.aux["induced"]))
    warm.restore(payload)
    np.testing.assert_array_equal(np.asarray(warm.state.aux["induced"]), payload[next(k for k in payload
                                                                                      if "induced" in k)])
    warm.chunk()
    assert np.array_equal(np.asarray(warm.state.positions), ahead[0])
    assert np.array_equal(np.asarray(warm.state.aux["induced"]), ahead[1])
