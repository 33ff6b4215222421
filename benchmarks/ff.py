"""Energy + forces of the ~1000-atom LiPF6/EC:DMC box: JAX (CPU, or GPU when JAX sees one) against OpenMM's
Reference and CPU platforms (and CUDA when present), in one process, printed as ratios.

    nice -n 5 .venv/bin/python benchmarks/ff.py [--atoms 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import numpy as np

from phyneo_flows.chem import build_box
from phyneo_flows.ff.compare import pme_grid_for
from phyneo_flows.ff.model import FFSettings, ForceField
from phyneo_flows.ff.openmm_twin import build_openmm_system
from phyneo_flows.ff.params import load_params
from phyneo_flows.formulation import load_formulation


def _time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", default="fixtures/ff/lipf6_ec_dmc")
    args = ap.parse_args()
    import openmm as mm

    box = build_box(load_formulation("workflows/lipf6_ec_dmc.yaml"), n_atoms=args.atoms, seed=1)
    names = list(box.molecule_species)
    pos = np.asarray(box.positions_nm)
    L = float(box.box_nm)
    cutoff = min(1.0, 0.5 * L - 0.101)
    st = FFSettings(cutoff=cutoff)
    ff = ForceField(load_params(args.params), names, st)
    t0 = time.perf_counter()
    ff.compute(pos, L)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)

    def jax_step():
        ff.compute(pos + rng.normal(scale=1e-4, size=pos.shape), L)

    t_jax = _time(jax_step, args.repeats)
    grid = pme_grid_for(np.eye(3) * L, 0.1)
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

        results[name] = _time(omm_step, args.repeats)
        del ctx
    print(f"machine: {platform.processor() or platform.machine()}, JAX devices {jax.devices()}")
    nk = len(ff.ewald_vectors(L))
    print(f"box: {len(pos)} atoms, {L:.3f} nm, cutoff {cutoff:.3f} nm, JAX Ewald {nk} k-vectors")
    print(f"JAX compile + first call: {compile_s:.1f} s")
    print(f"JAX energy+forces (mutual, 1e-8 D): {t_jax:.3f} s  ({ff.last_iterations} CG iterations)")
    for name, t in results.items():
        extra = f", PME grid {grid}, induced eps 1e-5 D"
        print(f"OpenMM {name:9s} energy+forces: {t:.3f} s{extra}; OpenMM/JAX time ratio {t / t_jax:.2f}")


if __name__ == "__main__":
    main()
