"""MD speed of each back end on the LiPF6/EC:DMC box, in one process, printed as JSON lines.

    python benchmarks/md.py [--atoms 1300] [--device auto|cpu|gpu] [--backends jax openmm]
        [--formulation workflows/lipf6_ec_dmc.yaml]
        [--time-limit 300] [--max-steps 2000] [--warmup-chunks 0] [--induced-tolerance 1e-5] [--box-file box.npz]
        [--save-box box.npz] [--nve-steps 0] [--nve-time-limit 600] [--lj]

The box is ``build_box(workflows/lipf6_ec_dmc.yaml, n_atoms, seed=1)`` with the literature parameters of
``fixtures/ff/lipf6_ec_dmc`` (or a box saved earlier with ``--save-box``, so a machine without RDKit or
Packmol can run it). Each back end integrates NVT (1 fs, JAX: CSVR, OpenMM: Langevin middle) in chunks of
``--chunk-steps``; the first chunk (JIT compile / context set-up; with ``--warmup-chunks`` that many
chunks at a quarter of the step, which a box fresh from packing needs at 1 fs) is timed apart, then chunks run until
``--max-steps`` or until ``--time-limit`` seconds have passed, so that a slow back end still reports ns/day
from a few steps. Ratios are against the first back end named, measured in the same process.

Devices: ``--device cpu`` runs JAX on the CPU and OpenMM on its CPU platform; ``gpu`` puts JAX on the GPU
(an error line when JAX sees none) and OpenMM on CUDA (else OpenCL); ``auto`` takes the GPU when there is
one. Both back ends use the same cutoff, Ewald alpha, PME grid and induced-dipole tolerance; OpenMM on a
GPU runs in ``--openmm-precision`` (mixed by default: in single precision its AMOEBA NVE heated 308 -> 490 K
in 3 ps on this box, see docs/performance.md).

``--nve-steps N`` (JAX only) then runs N steps of NVE from the NVT state and prints the drift of the total
energy in kT per degree of freedom per ns (linear fit). ``--lj`` adds the argon (343 atoms) comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIGMA, EPSILON, MASS = 0.3405, 0.99774, 39.948


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _timed(backend, max_steps: int, time_limit: float, warmup_chunks: int = 0) -> dict:
    """Compile chunk (and ``warmup_chunks`` at a quarter of the step, for a box fresh from packing), then
    chunks until max_steps or time_limit (s) of timed running."""
    dt = backend.timestep_ps
    t0 = time.perf_counter()
    backend.timestep_ps = dt / 4 if warmup_chunks else dt
    for _ in range(max(1, warmup_chunks)):
        backend.chunk()
    backend.timestep_ps = dt
    setup_s = time.perf_counter() - t0
    chunks, t0, c0 = [], time.perf_counter(), time.process_time()
    while len(chunks) * backend.steps_per_chunk < max_steps:
        chunks.append(backend.chunk())
        if time.perf_counter() - t0 > time_limit:
            break
    wall = time.perf_counter() - t0
    steps = len(chunks) * backend.steps_per_chunk
    temps = np.concatenate([c["observables"]["temperature"] for c in chunks])
    return {
        "steps": steps,
        "wall_s": round(wall, 3),
        "cpu_s": round(time.process_time() - c0, 3),
        "first_chunk_s": round(setup_s, 2),
        "s_per_step": round(wall / steps, 5),
        "ns_day": round(steps * backend.timestep_ps * 1e-3 / wall * 86400, 5),
        "mean_temperature_k": round(float(np.mean(temps)), 1),
        "chunks": chunks,
    }


def load_box(args):
    if args.box_file and Path(args.box_file).exists():
        d = np.load(args.box_file)
        return [str(s) for s in d["names"]], np.asarray(d["positions"]), np.asarray(d["box"])
    from phyneo_flows.chem import build_box
    from phyneo_flows.formulation import load_formulation

    b = build_box(load_formulation(ROOT / args.formulation), n_atoms=args.atoms, seed=1)
    names, pos, box = list(b.molecule_species), np.asarray(b.positions_nm), np.eye(3) * float(b.box_nm)
    if args.save_box:
        np.savez(args.save_box, names=np.array(names), positions=pos, box=box)
    return names, pos, box


def openmm_platform(device: str) -> str:
    import openmm

    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if device == "cpu":
        return "CPU"
    for name in ("CUDA", "OpenCL"):
        if name in names:
            return name
    if device == "gpu":
        raise RuntimeError(f"OpenMM has no GPU platform here (platforms: {names})")
    return "CPU"


def hybrid(args, jax_device: str) -> None:
    from phyneo_flows.ff.model import FFSettings, ForceField
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.md.backend import JaxBackend
    from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
    from phyneo_flows.md.integrators import MDConfig
    from phyneo_flows.units import BOLTZMANN_KJ_MOL_K

    names, pos, box = load_box(args)
    length = float(np.min(np.linalg.norm(box, axis=1)))
    st = FFSettings(
        cutoff=min(1.0, 0.5 * length - 0.101),
        induced_tolerance=args.induced_tolerance,
        pme_spacing=args.pme_spacing,
    )
    ff = ForceField(load_params(ROOT / "fixtures" / "ff" / "lipf6_ec_dmc"), names, st)
    grid = st.grid(box)
    cfg = MDConfig(
        ensemble="nvt", timestep_ps=0.001, temperature_k=298.15, report_interval=args.chunk_steps, frames_per_chunk=1
    )
    system = {
        "system": f"{Path(args.formulation).stem} {len(pos)} atoms",
        "box_nm": round(length, 3),
        "cutoff_nm": st.cutoff,
        "alpha_per_nm": round(st.alpha(), 4),
        "pme_grid": list(grid),
        "induced_tolerance_debye": st.induced_tolerance,
        "timestep_fs": 1.0,
    }
    results = {}
    for name in args.backends:
        rec = {**system, "backend": name}
        try:
            if name == "jax":
                backend = JaxBackend(
                    force_field_potential(ff, box), atom_masses(ff), pos, box, cfg, molecules=ff.system.mol
                )
                rec["device"] = jax_device
            else:
                from phyneo_flows.ff.openmm_twin import build_openmm_system
                from phyneo_flows.md.openmm_backend import OpenMMBackend

                omm = build_openmm_system(
                    ff.system, box, cutoff=st.cutoff, switch_distance=st.r_switch(), alpha=st.alpha(),
                    pme_grid=grid, induced_epsilon=st.induced_tolerance,
                )
                plat = openmm_platform(args.device)
                props = {"Precision": args.openmm_precision} if plat in ("CUDA", "OpenCL") else {}
                backend = OpenMMBackend(omm, pos, box, cfg, platform=plat, platform_properties=props)
                rec["device"] = plat + (f" ({args.openmm_precision})" if props else "")
            out = _timed(backend, args.max_steps, args.time_limit, args.warmup_chunks)
            out.pop("chunks")
            rec.update(out)
            results[name] = rec
        except Exception as exc:  # report and carry on with the next back end
            rec["error"] = f"{type(exc).__name__}: {exc}"
        emit(rec)
        if name == "jax" and args.nve_steps > 0 and "error" not in rec:
            nve_drift(backend, ff, cfg, args.nve_steps, args.nve_time_limit, BOLTZMANN_KJ_MOL_K, jax_device)
    base = args.backends[0]
    for name, rec in results.items():
        if name != base and base in results:
            emit({"ratio": f"{name} / {base} (ns/day)", "value": round(rec["ns_day"] / results[base]["ns_day"], 4)})


def nve_drift(nvt, ff, cfg, n_steps: int, time_limit: float, kb: float, device: str) -> None:
    from phyneo_flows.md.backend import JaxBackend
    from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
    from phyneo_flows.md.integrators import MDConfig

    box = np.asarray(nvt.state.box)
    nve = JaxBackend(
        force_field_potential(ff, box),
        atom_masses(ff),
        np.asarray(nvt.state.positions),
        box,
        MDConfig(ensemble="nve", timestep_ps=cfg.timestep_ps, report_interval=10, frames_per_chunk=10),
        molecules=ff.system.mol,
        velocities=np.asarray(nvt.state.velocities),
    )
    out = _timed(nve, n_steps, time_limit)
    chunks = out.pop("chunks")
    t = np.concatenate([c["observables"]["time"] for c in chunks])
    e = np.concatenate([c["observables"]["conserved_energy"] for c in chunks])
    temp = np.concatenate([c["observables"]["temperature"] for c in chunks])
    nf = 3 * len(nve.masses) - 3
    kt = kb * float(temp.mean())
    slope = np.polyfit(t, e, 1)[0]  # kJ/mol/ps
    emit(
        {
            "nve": f"{len(nve.masses)} atoms",
            "device": device,
            "ps": round(float(t[-1] - t[0]), 3),
            "mean_temperature_k": round(float(temp.mean()), 2),
            "energy_rms_kj_mol": float(np.std(e - np.polyval(np.polyfit(t, e, 1), t))),
            "drift_kt_per_dof_per_ns": float(slope * 1000 / (kt * nf)),
            "ns_day": out["ns_day"],
        }
    )


def lj(args) -> None:
    import openmm

    from phyneo_flows.md.backend import JaxBackend
    from phyneo_flows.md.integrators import MDConfig
    from phyneo_flows.md.openmm_backend import OpenMMBackend
    from phyneo_flows.md.potential import cubic_lattice, from_energy_fn, lennard_jones

    n_side = 7  # 343 atoms
    length = (n_side**3 / 0.8442) ** (1 / 3) * SIGMA
    pos, box = cubic_lattice(n_side, length / n_side), np.eye(3) * length
    rc = min(0.85, 0.49 * length)
    cfg = MDConfig(ensemble="nvt", timestep_ps=0.005, temperature_k=86.5, report_interval=10, frames_per_chunk=10)
    pot = from_energy_fn(lennard_jones(SIGMA, EPSILON, rc, shift="none"))
    jax_rec = _timed(JaxBackend(pot, np.full(len(pos), MASS), pos, box, cfg), args.max_steps, args.time_limit)
    system = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(rc)
    nb.setUseDispersionCorrection(False)
    for _ in pos:
        system.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPSILON)
    system.addForce(nb)
    plat = openmm_platform(args.device)
    omm_rec = _timed(OpenMMBackend(system, pos, box, cfg, platform=plat), args.max_steps, args.time_limit)
    emit(
        {
            "system": f"argon {len(pos)} atoms, all-pairs LJ in JAX",
            "jax_ns_day": jax_rec["ns_day"],
            f"openmm_{plat.lower()}_ns_day": omm_rec["ns_day"],
            "jax_over_openmm": round(jax_rec["ns_day"] / omm_rec["ns_day"], 4),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=1300)
    ap.add_argument("--formulation", default="workflows/lipf6_ec_dmc.yaml",
                    help="any formulation of EC, DMC, LiPF6 (the literature parameters cover those)")
    ap.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    ap.add_argument("--backends", nargs="+", choices=["jax", "openmm"], default=["jax", "openmm"])
    ap.add_argument("--time-limit", type=float, default=300.0, help="timed seconds per back end (after setup)")
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--chunk-steps", type=int, default=10)
    ap.add_argument("--warmup-chunks", type=int, default=0, help="untimed chunks at dt/4 before timing")
    ap.add_argument("--induced-tolerance", type=float, default=1e-5, help="RMS induced-dipole change, Debye")
    ap.add_argument("--pme-spacing", type=float, default=0.08, help="largest PME grid spacing, nm")
    ap.add_argument("--openmm-precision", default="mixed", help="CUDA/OpenCL precision (single: no NVE)")
    ap.add_argument("--box-file", help="npz box (names, positions, box) to read instead of packing one")
    ap.add_argument("--save-box", help="write the packed box here (npz)")
    ap.add_argument("--nve-steps", type=int, default=0)
    ap.add_argument("--nve-time-limit", type=float, default=600.0, help="timed seconds of the NVE run")
    ap.add_argument("--lj", action="store_true", help="add the argon JAX vs OpenMM comparison")
    args = ap.parse_args()
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    if args.device == "gpu" and not any(d.platform == "gpu" for d in jax.devices()):
        emit({"error": f"--device gpu: JAX sees no GPU ({jax.devices()})"})
        args.backends = [b for b in args.backends if b != "jax"] or []
    jax_device = str(jax.devices()[0])
    emit(
        {
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "jax": jax.__version__,
            "jax_devices": [str(d) for d in jax.devices()],
        }
    )
    if args.backends:
        hybrid(args, jax_device)
    if args.lj:
        lj(args)


if __name__ == "__main__":
    main()
