"""The OpenMM back end behind the same run loop: resume from a checkpoint bitwise, energies that agree
with the JAX potential for the same frames (driver-style comparison), and an NPT run."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from phyneo_flows.md.guard import GuardConfig
from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.md.potential import cubic_lattice, lennard_jones
from phyneo_flows.md.runner import MDRunner
from phyneo_flows.md.trajectory import read_h5md

openmm = pytest.importorskip("openmm")
from phyneo_flows.md.openmm_backend import OpenMMBackend  # noqa: E402

SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948
N_SIDE = 3
LENGTH = (N_SIDE**3 / 0.8442) ** (1 / 3) * SIGMA
RC = 0.49 * LENGTH


def _system():
    system = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(RC)
    nb.setUseDispersionCorrection(False)
    nb.setReactionFieldDielectric(1.0)
    for _ in range(N_SIDE**3):
        system.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPSILON)
    system.addForce(nb)
    system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*r) for r in np.eye(3) * LENGTH])
    return system


def _backend(ensemble="nvt"):
    cfg = MDConfig(
        ensemble=ensemble,
        timestep_ps=0.005,
        temperature_k=86.5,
        pressure_bar=1000.0,
        report_interval=5,
        frames_per_chunk=2,
        seed=5,
        barostat_interval=5,
    )
    return OpenMMBackend(
        _system(),
        cubic_lattice(N_SIDE, LENGTH / N_SIDE),
        np.eye(3) * LENGTH,
        cfg,
        platform="CPU",
        platform_properties={"Threads": "1"},
    )


GUARD = GuardConfig(max_volume_change=2.0, max_temperature_factor=10.0)


def test_openmm_resume_from_disk_is_bitwise_identical(tmp_path):
    # a fresh context per run, as after a killed process (cheap here, unlike a JAX recompilation). NVT on
    # the CPU platform: OpenMM's Monte Carlo barostat draws from a process-wide generator, so two NPT
    # contexts in one process do not repeat each other (separate processes do).
    whole = MDRunner(
        _backend("nvt"), tmp_path / "whole", checkpoint_interval_chunks=2, guard=GUARD, write_velocities=True
    ).run(200)
    MDRunner(
        _backend("nvt"), tmp_path / "part", checkpoint_interval_chunks=2, guard=GUARD, write_velocities=True
    ).run(100)
    part = MDRunner(
        _backend("nvt"), tmp_path / "part", checkpoint_interval_chunks=2, guard=GUARD, write_velocities=True
    ).run(200)
    assert part.resumed_from_step == 100
    a, b = read_h5md(whole.trajectory), read_h5md(part.trajectory)
    assert a.keys() == b.keys() and "pressure_tensor" not in a
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_openmm_npt_moves_the_box(tmp_path):
    report = MDRunner(_backend("npt"), tmp_path, checkpoint_interval_chunks=2, guard=GUARD).run(100)
    assert np.ptp(read_h5md(report.trajectory)["volume"]) > 0


def test_openmm_frames_have_the_jax_potential_energy(tmp_path):
    be = _backend("nvt")
    report = MDRunner(be, tmp_path, checkpoint_interval_chunks=2, guard=GUARD).run(100)
    data = read_h5md(report.trajectory)
    energy = lennard_jones(SIGMA, EPSILON, RC, shift="none")
    at_frames = np.isin(data["step"], data["position_step"])
    for pos, box, e_omm in zip(
        data["position"], data["box"], data["potential_energy"][at_frames], strict=True
    ):
        assert float(energy(jnp.asarray(pos), jnp.asarray(box))) == pytest.approx(e_omm, rel=1e-5, abs=1e-3)
