"""Cost of the periodic-perturbation integrator against OpenMM's own leapfrog, in one process, as JSON lines.

    python benchmarks/cosine.py [--waters 480] [--steps 2000] [--threads 2] [--platform CPU]

The system is the slow viscosity test's: rigid TIP4P/2005 in 1.9 x 1.9 x L_z nm at the published density,
minimised. Each integrator runs ``--steps`` steps of 2 fs after a warm-up of 200 steps, in blocks of 50
(the test's sampling interval, with the reads of the amplitude between blocks for the cosine runs). The
baseline is ``openmm.VerletIntegrator`` (no thermostat, no external force); the ratio says what the
``CustomIntegrator`` (kick with A cos(kz), CSVR on the peculiar velocity every 10 steps, the amplitude sums)
costs on top of the forces.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _time_steps(integ, steps: int, block: int, read: tuple[str, ...]) -> float:
    integ.step(200)
    t0 = time.perf_counter()
    for _ in range(steps // block):
        integ.step(block)
        for name in read:
            integ.getGlobalVariableByName(name)
    return (steps // block) * block / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waters", type=int, default=480)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--platform", default="CPU")
    args = ap.parse_args(argv)

    import openmm

    from phyneo_flows.md import cosine_acceleration as ca

    wb = ca.tip4p2005_slab(args.waters)
    pos = ca.minimize(wb.system, wb.positions_nm, wb.box_nm, max_iterations=200, platform=args.platform,
                      threads=args.threads)
    plat, props = ca._platform(args.platform, args.threads)
    nf = ca.peculiar_degrees_of_freedom(wb.system)

    def context(integ):
        ctx = openmm.Context(wb.system, integ, plat, props)
        ctx.setPositions(pos)
        ctx.applyConstraints(1e-8)
        ctx.setVelocitiesToTemperature(298.0, 1)
        ctx.applyVelocityConstraints(1e-8)
        return ctx

    rows = []
    base = openmm.VerletIntegrator(0.002)
    ctx = context(base)
    rate = _time_steps(base, args.steps, 50, ())
    rows.append({"integrator": "VerletIntegrator", "steps_per_s": rate})
    del ctx
    for name, kwargs in (("cosine, no thermostat", {}),
                         ("cosine + CSVR (the test's)", {"temperature_k": 298.0, "n_dof": nf})):
        integ = ca.cosine_acceleration_integrator(0.002, 0.06, wb.box_nm[2], **kwargs)
        ctx = context(integ)
        rate = _time_steps(integ, args.steps, 50, ("v_sum", "n_sum", "ke_sum", "n_ke"))
        rows.append({"integrator": name, "steps_per_s": rate})
        del ctx
    for row in rows:
        row.update(ratio_to_verlet=rows[0]["steps_per_s"] / row["steps_per_s"], ns_per_day=row["steps_per_s"]
                   * 0.002 * 86400 / 1000, waters=args.waters, platform=args.platform, threads=args.threads,
                   machine=platform.processor() or platform.machine(), openmm=openmm.__version__)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
