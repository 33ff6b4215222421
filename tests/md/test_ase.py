"""The ASE calculator: ASE's own Lennard-Jones and finite differences as references; ASE and atomate2 MD."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from phyneo_flows.md.ase_calculator import KJ_MOL_PER_EV, PhyneoCalculator
from phyneo_flows.md.potential import cubic_lattice, lennard_jones

SIGMA, EPSILON = 0.3405, 0.99774


def _argon(n_side=3, seed=0) -> Atoms:
    length = (n_side**3 / 0.8442) ** (1 / 3) * SIGMA * 10  # A
    pos = cubic_lattice(n_side, length / n_side) + np.random.default_rng(seed).normal(0, 0.1, (n_side**3, 3))
    return Atoms(f"Ar{n_side**3}", positions=pos, cell=np.eye(3) * length, pbc=True)


def test_kj_per_ev():
    assert KJ_MOL_PER_EV == pytest.approx(96.485332, rel=1e-7)


def test_matches_ase_lennard_jones_and_finite_differences():
    atoms = _argon()
    rc = 0.45 * atoms.cell[0, 0] / 10
    ours = PhyneoCalculator(lennard_jones(SIGMA, EPSILON, rc, shift="energy"))
    ref = LennardJones(sigma=SIGMA * 10, epsilon=EPSILON / KJ_MOL_PER_EV, rc=rc * 10, smooth=False)
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = ours, ref
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), rel=1e-9)
    assert np.allclose(a.get_forces(), b.get_forces(), rtol=1e-8, atol=1e-10)
    assert np.allclose(a.get_stress(), b.get_stress(), rtol=1e-7, atol=1e-10)
    assert np.allclose(ours.calculate_numerical_stress(a, d=1e-6), a.get_stress(), atol=1e-7)


def test_ase_velocity_verlet_conserves_energy():
    atoms = _argon()
    rc = 0.45 * atoms.cell[0, 0] / 10
    atoms.calc = PhyneoCalculator(lennard_jones(SIGMA, EPSILON, rc, shift="force"))
    MaxwellBoltzmannDistribution(atoms, temperature_K=86.5, rng=np.random.default_rng(1))
    e0 = atoms.get_total_energy()
    dyn = VelocityVerlet(atoms, timestep=2 * units.fs)
    dyn.run(100)
    assert abs(atoms.get_total_energy() - e0) < 1e-4 * len(atoms)  # eV; kinetic energy ~ 0.3 eV


def test_atomate2_ase_md_job_runs_with_our_calculator():
    pytest.importorskip("atomate2")
    from atomate2.ase.md import AseMDMaker
    from jobflow import run_locally
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = _argon()
    rc = 0.45 * atoms.cell[0, 0] / 10

    class PhyneoMDMaker(AseMDMaker):
        def _get_calculator(self):
            return PhyneoCalculator(lennard_jones(SIGMA, EPSILON, rc, shift="force"))

    maker = PhyneoMDMaker(
        name="phyneo md",
        n_steps=20,
        time_step=2.0,
        ensemble="nvt",
        temperature=86.5,
        dynamics="langevin",
        mb_velocity_seed=3,
        traj_interval=5,
    )
    job = maker.make(AseAtomsAdaptor.get_structure(atoms))
    out = run_locally(job, ensure_success=True)
    doc = out[job.uuid][1].output
    assert doc.output.energy is not None and np.isfinite(doc.output.energy)
    assert doc.output.n_steps == 20 // 5 + 1  # frames stored, the first included
    final = AseAtomsAdaptor.get_atoms(doc.output.mol_or_struct)
    final.calc = PhyneoCalculator(lennard_jones(SIGMA, EPSILON, rc, shift="force"))
    assert doc.output.energy == pytest.approx(final.get_potential_energy(), rel=1e-8)
