"""Generate the Lennard-Jones triple-point fixture used by the validation tests.

    nice -n 10 python -m phyneo_flows.analysis.validation.make_lj_fixture \
        --out fixtures/analysis/lj_triple_point.npz --runs 8

or in pieces (e.g. two processes with --seed0 1 and --seed0 5 and --runs 4), then
``--merge part1.npz part2.npz --out lj_triple_point.npz``.

Each run is an independent trajectory (own seed, own melt and equilibration). The file holds, in
reduced LJ units: ``stress`` (runs, blocks, 5) float32 block means of the traceless symmetric pressure
tensor as (xy, xz, yz, xx - tr/3, yy - tr/3); ``positions`` (runs, frames, atoms, 3) float32 unwrapped
centre-of-mass-free positions of the first atoms; the time steps, box, temperature and pressure.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from phyneo_flows.analysis.validation.lj_md import LJRunConfig, run_lj


def traceless_channels(stress: np.ndarray) -> np.ndarray:
    """(n, 3, 3) pressure tensors -> (n, 5): xy, xz, yz, xx - tr/3, yy - tr/3 (symmetrised)."""
    s = 0.5 * (stress + np.swapaxes(stress, -1, -2))
    tr = np.trace(s, axis1=-2, axis2=-1) / 3.0
    return np.stack([s[:, 0, 1], s[:, 0, 2], s[:, 1, 2], s[:, 0, 0] - tr, s[:, 1, 1] - tr], axis=-1)


def channels_to_tensor(ch: np.ndarray, pressure: float = 0.0) -> np.ndarray:
    """Inverse of :func:`traceless_channels`: (n, 5) -> (n, 3, 3) with isotropic part ``pressure``."""
    n = ch.shape[0]
    t = np.zeros((n, 3, 3), dtype=np.float64)
    t[:, 0, 1] = t[:, 1, 0] = ch[:, 0]
    t[:, 0, 2] = t[:, 2, 0] = ch[:, 1]
    t[:, 1, 2] = t[:, 2, 1] = ch[:, 2]
    t[:, 0, 0] = ch[:, 3] + pressure
    t[:, 1, 1] = ch[:, 4] + pressure
    t[:, 2, 2] = -ch[:, 3] - ch[:, 4] + pressure
    return t


def merge(parts: list[Path], out: Path) -> None:
    """Concatenate the runs of several fixture files made with the same settings."""
    data = [dict(np.load(f)) for f in parts]
    metas = [json.loads(str(d["meta"])) for d in data]
    for d in data[1:]:
        for key in ("stress_dt", "positions_dt", "box", "n_atoms"):
            if not np.allclose(d[key], data[0][key]):
                raise ValueError(f"cannot merge: {key} differs")
    cat = {k: np.concatenate([d[k] for d in data]) for k in
           ("stress", "positions", "temperature", "pressure", "energy_drift_per_atom")}
    meta = {"config": metas[0]["config"], "runs_done": int(cat["stress"].shape[0]),
            "seeds": [m["config"]["seed"] - m["runs_done"] + 1 for m in metas],
            "wall_s": sum((m["wall_s"] for m in metas), []), "generator": metas[0]["generator"],
            "merged_from": [p.name for p in parts]}
    np.savez_compressed(out, **cat, stress_dt=data[0]["stress_dt"], positions_dt=data[0]["positions_dt"],
                        box=data[0]["box"], n_atoms=data[0]["n_atoms"], meta=json.dumps(meta))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: run ``--runs`` independent trajectories and write the npz fixture."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--prod-steps", type=int, default=160000)
    p.add_argument("--equil-steps", type=int, default=8000)
    p.add_argument("--melt-steps", type=int, default=2000)
    p.add_argument("--rc", type=float, default=3.0)
    p.add_argument("--dt", type=float, default=0.005)
    p.add_argument("--block", type=int, default=25)
    p.add_argument("--pos-every", type=int, default=400)
    p.add_argument("--pos-frames", type=int, default=120)
    p.add_argument("--pos-atoms", type=int, default=64)
    p.add_argument("--n-cells", type=int, default=5)
    p.add_argument("--seed0", type=int, default=1)
    p.add_argument("--merge", type=Path, nargs="+", help="merge these fixture files into --out and exit")
    a = p.parse_args(argv)
    if a.merge:
        merge(a.merge, a.out)
        return
    stress, positions, temps, press, drifts, walls = [], [], [], [], [], []
    cfg = None
    t0 = time.time()
    for r in range(a.runs):
        cfg = LJRunConfig(n_cells=a.n_cells, rc=a.rc, dt=a.dt, melt_steps=a.melt_steps,
                          equil_steps=a.equil_steps, prod_steps=a.prod_steps, block=a.block,
                          pos_every=a.pos_every, pos_frames=a.pos_frames, pos_atoms=a.pos_atoms,
                          seed=a.seed0 + r)
        res = run_lj(cfg)
        stress.append(traceless_channels(res["stress"]).astype(np.float32))
        positions.append(res["positions"].astype(np.float32))
        temps.append(res["temperature_mean"])
        press.append(float(np.trace(res["stress"].mean(axis=0)) / 3.0))
        drifts.append(res["energy_drift_per_atom"])
        walls.append(res["wall_s"])
        a.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"config": asdict(cfg), "runs_done": r + 1, "wall_s": walls, "generator":
                "phyneo_flows.analysis.validation.make_lj_fixture"}
        np.savez_compressed(
            a.out, stress=np.asarray(stress), positions=np.asarray(positions),
            stress_dt=res["stress_dt"], positions_dt=res["positions_dt"], box=res["box"],
            n_atoms=res["n_atoms"], temperature=np.asarray(temps), pressure=np.asarray(press),
            energy_drift_per_atom=np.asarray(drifts), meta=json.dumps(meta))
    print(f"wrote {a.out} ({a.runs} runs, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
