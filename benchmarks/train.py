"""Seconds per training epoch of the residual ensemble, on the CPU and on every accelerator JAX sees, in one
process; ratios against the CPU run (the baseline).

    nice -n 5 .venv/bin/python benchmarks/train.py [--dimers 400] [--members 4] [--hidden 32] [--epochs 20]

The dimers are Li+ placed around the EC library conformer at random directions and closest contacts of
0.17-0.6 nm (labels do not matter for timing). One epoch is a pass over all dimers in minibatches of
``--batch`` for all K members at once (one jitted ``lax.scan``); compilation is excluded (a first epoch is run
and discarded) and the best of ``--repeats`` timings of ``--epochs`` epochs is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from phyneo_flows.fitting.data import DimerRecord
from phyneo_flows.fitting.residual import (
    Normaliser,
    ResidualConfig,
    _Data,
    _make_optimizer,
    _prepare,
    init_members,
)

SAPT_LI_EC = Path(__file__).resolve().parents[1] / "fixtures" / "fitting" / "sapt0_jun-cc-pvdz" / "Li+-EC.jsonl"


def ec_conformer() -> tuple[tuple[str, ...], np.ndarray]:
    """EC from the species library, or (no RDKit, e.g. on an accelerator machine) from the SAPT fixture."""
    try:
        from phyneo_flows.chem.molecule import build_molecule

        t = build_molecule("EC")
        return tuple(t.symbols), np.asarray(t.positions_nm)
    except ImportError:
        line = json.loads(SAPT_LI_EC.read_text().splitlines()[0])
        mono = line["monomer_a"] if line["monomer_a"]["name"] == "EC" else line["monomer_b"]
        return tuple(mono["symbols"]), np.asarray(mono["coordinates_nm"])


def dimers(n: int, seed: int = 0) -> list[DimerRecord]:
    symbols, ec = ec_conformer()
    ec = ec - ec.mean(0)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        d = rng.uniform(0.17, 0.6) + 0.2
        comps = dict.fromkeys(("electrostatics", "exchange", "induction", "delta_hf", "dispersion"), 0.0)
        comps["total"] = float(rng.normal())
        out.append(DimerRecord("Li+-EC", k, 0, "EC", "Li+", symbols, ("Li",), ec, (d * u)[None, :],
                               0, 1, comps, 10 * d))
    return out


def time_epochs(device, config, records, epochs: int, repeats: int) -> float:
    import equinox as eqx

    from phyneo_flows.fitting.residual import _make_step

    with jax.default_device(device):
        g, z, y, w = _prepare(records, None, config, None, "train")
        real = z >= 0
        norm = Normaliser(jnp.asarray(g[real].mean(0)), jnp.asarray(g[real].std(0) + 1e-3), 1.0)
        data = _Data(jnp.asarray(g), jnp.asarray(z), jnp.asarray(y), jnp.asarray(w))
        params, static = eqx.partition(init_members(config, config.n_features + len(config.elements)),
                                       eqx.is_inexact_array)
        opt = _make_optimizer(config)
        state = opt.init(params)
        step = _make_step(config, static, opt, len(config.elements), config.batch_size, len(y))
        key = jax.random.PRNGKey(0)
        params, state, loss = step(params, state, norm, data, key)  # compile
        loss.block_until_ready()
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            for e in range(epochs):
                params, state, loss = step(params, state, norm, data, jax.random.fold_in(key, e))
            loss.block_until_ready()
            best = min(best, (time.perf_counter() - t) / epochs)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dimers", type=int, default=400)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    config = ResidualConfig(ensemble_size=args.members, hidden=(args.hidden,) * args.layers, batch_size=args.batch)
    records = dimers(args.dimers)
    devices = [jax.devices("cpu")[0]]
    try:
        devices += [d for d in jax.devices() if d.platform != "cpu"][:1]
    except RuntimeError:
        pass
    rows = []
    for dev in devices:
        s = time_epochs(dev, config, records, args.epochs, args.repeats)
        rows.append({"device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}", "seconds_per_epoch": s})
    base = rows[0]["seconds_per_epoch"]
    for r in rows:
        r["speedup_vs_cpu"] = base / r["seconds_per_epoch"]
    print(json.dumps({"benchmark": "residual training epoch", "dimers": args.dimers, "members": args.members,
                      "hidden": [args.hidden] * args.layers, "batch": args.batch, "jax": jax.__version__,
                      "jax_default_backend": jax.default_backend(), "host": platform.node(),
                      "cpu_threads_visible": len(jax.devices("cpu")), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
