"""Energy + forces of the ~1000-atom LiPF6/EC:DMC box: JAX (CPU, or GPU when JAX sees one) against OpenMM's
Reference and CPU platforms (and CUDA when present), in one process, printed as ratios.

    nice -n 5 .venv/bin/python benchmarks/ff.py [--atoms 1000] [--repeats 3] [--reciprocal ewald pme]
        [--polarization mutual direct] [--pme-spacing 0.04]

Each JAX variant is timed in the same process; ratios are against the first (the baseline).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

from phyneo_flows.chem import build_box
from phyneo_flows.ff.model import FFSettings, ForceField
from phyneo_flows.ff.openmm_twin import build_openmm_system
from phyneo_flows.ff.params import load_params
from phyneo_flows.formulation import load_formulation


def _time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls (s); the process CPU time of that call is kept in ``_time.cpu``."""
    best = np.inf
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, _time.cpu = wall, time.process_time() - c
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", default="fixtures/ff/lipf6_ec_dmc")
    ap.add_argument("--reciprocal", nargs="+", default=["ewald", "pme"], help="JAX variants; first = baseline")
    ap.add_argument("--polarization", nargs="+", default=["mutual"], help="mutual and/or direct")
    ap.add_argument("--pme-spacing", type=float, default=0.04)
    args = ap.parse_args()
    import openmm as mm

    box = build_box(load_formulation("workflows/lipf6_ec_dmc.yaml"), n_atoms=args.atoms, seed=1)
    names = list(box.molecule_species)
    pos = np.asarray(box.positions_nm)
    L = float(box.box_nm)
    cutoff = min(1.0, 0.5 * L - 0.101)
    rng = np.random.default_rng(0)
    variants = [(r, p) for r in args.reciprocal for p in args.polarization]
    jax_times = {}
    for rec, pol in variants:
        st = FFSettings(cutoff=cutoff, reciprocal=rec, polarization=pol, pme_spacing=args.pme_spacing)
        ff = ForceField(load_params(args.params), names, st)
        t0 = time.perf_counter()
        ff.compute(pos, L)
        compile_s = time.perf_counter() - t0

        def jax_step(ff=ff):
            ff.compute(pos + rng.normal(scale=1e-4, size=pos.shape), L)

        t = _time(jax_step, args.repeats)
        jax_times[(rec, pol)] = t
        detail = f"grid {ff.pme_shape}" if rec == "pme" else f"{len(ff.ewald_vectors(L))} k-vectors"
        print(json.dumps({"engine": "jax", "reciprocal": rec, "polarization": pol, "detail": detail,
                          "compile_s": round(compile_s, 2), "s_per_energy_forces": round(t, 4),
                          "cpu_s": round(_time.cpu, 4), "cg_iterations": ff.last_iterations}), flush=True)
    base = variants[0]
    for key, t in jax_times.items():
        print(json.dumps({"ratio": f"{key} / {base}", "time_ratio": round(t / jax_times[base], 4)}))
    grid = st.grid(np.eye(3) * L)
    omm = build_openmm_system(ff.system, np.eye(3) * L, cutoff=cutoff, switch_distance=st.r_switch(),
                              alpha=st.alpha(), pme_grid=grid, induced_epsilon=1e-5)
    results = {}
    for name in ("Reference", "CPU", "CUDA"):
        try:
            plat = mm.Platform.getPlatformByName(name)
        except Exception:
            continue
        ctx = mm.Context(omm, mm.VerletIntegrator(0.001), plat)
        ctx.setPositions(pos)
        ctx.getState(getForces=True, getEnergy=True)

        def omm_step(ctx=ctx):
            ctx.setPositions(pos + rng.normal(scale=1e-4, size=pos.shape))
            ctx.getState(getForces=True, getEnergy=True)

        results[name] = (_time(omm_step, args.repeats), _time.cpu)
        del ctx
    print(f"machine: {platform.processor() or platform.machine()}, JAX devices {jax.devices()}")
    print(f"box: {len(pos)} atoms, {L:.3f} nm, cutoff {cutoff:.3f} nm")
    t_jax = jax_times[variants[-1]]
    for name, (t, cpu) in results.items():
        print(json.dumps({"engine": f"openmm-{name}", "pme_grid": list(grid), "induced_epsilon_debye": 1e-5,
                          "s_per_energy_forces": round(t, 4), "cpu_s": round(cpu, 4),
                          "openmm_over_jax_last": round(t / t_jax, 4)}))


if __name__ == "__main__":
    main()
