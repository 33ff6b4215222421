"""Checkpoints: one ``.npz`` of plain arrays, written to a temporary file, synced and renamed.

A checkpoint holds the back end's state (for JAX: positions, velocities, forces, box, thermostat work and
barostat state, the PRNG key, the step, the potential's auxiliary state such as the neighbour-list
reference and induced dipoles; for OpenMM: the context checkpoint bytes) and the run's bookkeeping
(``meta/*``: frames written, time step, trips, reference volume, a fingerprint of the settings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from phyneo_flows.errors import InputError


def save(path: str | Path, payload: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``payload`` (arrays) and ``meta`` (JSON-able) atomically to ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    arrays = {f"state/{k}": np.asarray(v) for k, v in payload.items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save`: (payload, meta)."""
    path = Path(path)
    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            payload = {k[len("state/") :]: data[k] for k in data.files if k.startswith("state/")}
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"cannot read checkpoint {path}: {exc}",
            field="checkpoint",
            fix="delete the run directory to start afresh",
        ) from exc
    return payload, meta
