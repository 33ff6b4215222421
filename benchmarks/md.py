"""MD speed and energy conservation, each back end on the same machine in one process.

    python benchmarks/md.py [--ff-steps 2000] [--lj-steps 2000] [--skip-ff]

1. Argon (343 atoms, rc 0.85 nm): ns/day for the JAX back end and for OpenMM (CPU platform, and CUDA
   when present), and their ratio.
2. The hybrid force field (``fixtures/ff/lipf6_ec_dmc`` parameters) on a small LiPF6/EC/DMC box (the FF
   tests' six molecules, 2.1 nm): FIRE minimisation, 0.2 ps NVT, then NVE at 1 fs: ns/day and the drift
   of the total energy in kT per degree of freedom per ns (linear fit). The ~1,300-atom box of the issue is
   too slow for this 2-core machine (see docs/md.md).
Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phyneo_flows.md.backend import JaxBackend  # noqa: E402
from phyneo_flows.md.integrators import MDConfig  # noqa: E402
from phyneo_flows.md.potential import cubic_lattice, from_energy_fn, lennard_jones  # noqa: E402
from phyneo_flows.units import BOLTZMANN_KJ_MOL_K  # noqa: E402

SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948


def _timed_chunks(backend, n_steps: int) -> tuple[float, list[dict]]:
    backend.chunk()  # compile / warm up
    chunks, t0 = [], time.perf_counter()
    while len(chunks) * backend.steps_per_chunk < n_steps:
        chunks.append(backend.chunk())
    wall = time.perf_counter() - t0
    done = len(chunks) * backend.steps_per_chunk
    return done * backend.timestep_ps * 1e-3 / wall * 86400, chunks


def lj(n_steps: int) -> None:
    n_side = 7  # 343 atoms
    length = (n_side**3 / 0.8442) ** (1 / 3) * SIGMA
    pos, box = cubic_lattice(n_side, length / n_side), np.eye(3) * length
    rc = min(0.85, 0.49 * length)
    cfg = MDConfig(
        ensemble="nvt", timestep_ps=0.005, temperature_k=86.5, report_interval=10, frames_per_chunk=10
    )
    jax_nsday, _ = _timed_chunks(
        JaxBackend(
            from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="none")),
            np.full(len(pos), MASS),
            pos,
            box,
            cfg,
        ),
        n_steps,
    )
    out = {"system": f"argon {len(pos)} atoms", "jax_ns_day": jax_nsday}
    try:
        import openmm

        from phyneo_flows.md.openmm_backend import OpenMMBackend, best_platform

        system = openmm.System()
        nb = openmm.NonbondedForce()
        nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
        nb.setCutoffDistance(rc)
        nb.setUseDispersionCorrection(False)
        for _ in pos:
            system.addParticle(MASS)
            nb.addParticle(0.0, SIGMA, EPSILON)
        system.addForce(nb)
        platform = best_platform()
        omm_nsday, _ = _timed_chunks(OpenMMBackend(system, pos, box, cfg, platform=platform), n_steps)
        out.update({f"openmm_{platform.lower()}_ns_day": omm_nsday, "jax_over_openmm": jax_nsday / omm_nsday})
    except Exception as exc:  # report and carry on
        out["openmm_error"] = str(exc)
    print(json.dumps(out))


def ff(n_steps: int) -> None:
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.ff.model import FFSettings, ForceField
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
    from phyneo_flows.md.minimize import minimize

    rng = np.random.default_rng(3)
    names = ["EC", "Li+", "PF6-", "DMC", "Li+", "PF6-"]
    length = 2.1
    centres, pos = [], []
    for k, name in enumerate(names):
        x = np.asarray(build_molecule(name).positions_nm)
        while True:
            c = rng.uniform(0, length, 3)
            if all(np.linalg.norm((c - o) - length * np.round((c - o) / length)) > 0.6 for o in centres):
                break
        centres.append(c)
        q, _ = np.linalg.qr(np.random.default_rng(k).normal(size=(3, 3)))
        pos.append((x - x.mean(0)) @ (q * np.sign(np.linalg.det(q))).T + c)
    pos, box = np.concatenate(pos), np.eye(3) * length
    force_field = ForceField(
        load_params(ROOT / "fixtures/ff/lipf6_ec_dmc"),
        names,
        FFSettings(cutoff=0.9, ewald_alpha=3.5, skin=0.1),
    )
    pot = force_field_potential(force_field, box)
    t0 = time.perf_counter()
    pos, res = minimize(pot, pos, box, max_force_kj_mol_nm=100.0, max_iterations=300)
    t_min = time.perf_counter() - t0
    masses = atom_masses(force_field)
    nvt = JaxBackend(
        pot,
        masses,
        pos,
        box,
        MDConfig(
            ensemble="nvt", timestep_ps=0.001, temperature_k=298.15, report_interval=10, frames_per_chunk=10
        ),
        molecules=force_field.system.mol,
    )
    for _ in range(2):
        nvt.chunk()
    nve = JaxBackend(
        pot,
        masses,
        np.asarray(nvt.state.positions),
        box,
        MDConfig(ensemble="nve", timestep_ps=0.001, report_interval=10, frames_per_chunk=10),
        molecules=force_field.system.mol,
        velocities=np.asarray(nvt.state.velocities),
    )
    ns_day, chunks = _timed_chunks(nve, n_steps)
    t = np.concatenate([c["observables"]["time"] for c in chunks])
    e = np.concatenate([c["observables"]["conserved_energy"] for c in chunks])
    temp = np.concatenate([c["observables"]["temperature"] for c in chunks])
    slope = np.polyfit(t, e, 1)[0]  # kJ/mol/ps
    nf = 3 * len(masses) - 3
    kt = BOLTZMANN_KJ_MOL_K * temp.mean()
    print(
        json.dumps(
            {
                "system": f"LiPF6/EC/DMC {len(masses)} atoms, 2.1 nm",
                "minimise_s": t_min,
                "minimised_energy_kj_mol": res.final_energy_kj_mol,
                "max_force": res.max_force_kj_mol_nm,
                "jax_ns_day": ns_day,
                "nve_ps": float(t[-1] - t[0]),
                "mean_temperature_k": float(temp.mean()),
                "energy_rms_kj_mol": float(np.std(e)),
                "drift_kt_per_dof_per_ns": float(slope * 1000 / (kt * nf)),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lj-steps", type=int, default=2000)
    parser.add_argument("--ff-steps", type=int, default=2000)
    parser.add_argument("--skip-ff", action="store_true")
    args = parser.parse_args()
    lj(args.lj_steps)
    if not args.skip_ff:
        ff(args.ff_steps)
