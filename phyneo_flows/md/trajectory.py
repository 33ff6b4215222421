"""Trajectories in HDF5, written crash-safe in segments and merged into one H5MD file.

While a run goes, every checkpoint interval writes one segment file ``seg_<first frame>.h5`` (to a
temporary name, then renamed, so a killed run never leaves a half-written file); a resumed run deletes the
segments at or after its checkpoint's frame count, so nothing is duplicated or missing.
:func:`read_trajectory` concatenates the segments; :func:`export_h5md` writes one H5MD 1.1 file
(``/particles/all/{position,velocity,box/edges}``, ``/observables/...``, units as attributes), the layout
MDAnalysis's H5MD reader understands.

Frames come in two cadences: observables (energies, kinetic energy, temperature, pressure tensor, volume,
energy per term) every ``report_interval`` steps, and particles (unwrapped positions, optionally velocities,
box) every chunk. Units: nm, ps, kJ/mol, K, bar, nm^3.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

UNITS = {
    "position": "nm",
    "velocity": "nm ps-1",
    "box": "nm",
    "potential_energy": "kJ mol-1",
    "kinetic_energy": "kJ mol-1",
    "conserved_energy": "kJ mol-1",
    "temperature": "K",
    "pressure_tensor": "bar",
    "volume": "nm+3",
    "time": "ps",
}
PARTICLE_KEYS = ("position", "velocity", "box")


def _segment_name(first_frame: int) -> str:
    return f"seg_{first_frame:010d}.h5"


def segments(directory: str | Path) -> list[Path]:
    """The segment files of a trajectory directory, in order."""
    return sorted(Path(directory).glob("seg_*.h5"))


def segment_start(path: Path) -> int:
    return int(path.stem.split("_")[1])


def write_segment(
    directory: str | Path,
    first_frame: int,
    particles: dict[str, np.ndarray],
    observables: dict[str, np.ndarray],
    terms: dict[str, np.ndarray],
) -> Path:
    """Write one segment atomically. ``particles`` holds step/time/position/box (and velocity) per chunk
    frame; ``observables`` holds step/time and the scalar/tensor series per observable frame;
    ``terms`` the energy of each term per observable frame."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / _segment_name(first_frame)
    tmp = final.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["first_frame"] = first_frame
        for group, data in (("particles", particles), ("observables", observables)):
            g = f.create_group(group)
            for k, v in data.items():
                g.create_dataset(k, data=np.asarray(v))
        g = f.create_group("terms")
        for k, v in terms.items():
            g.create_dataset(k, data=np.asarray(v))
        f.flush()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def truncate(directory: str | Path, n_frames: int) -> None:
    """Delete segments (and temporary files) that start at or after chunk frame ``n_frames``."""
    directory = Path(directory)
    for tmp in directory.glob("seg_*.h5.tmp"):
        tmp.unlink()
    for seg in segments(directory):
        if segment_start(seg) >= n_frames:
            seg.unlink()


def read_trajectory(directory: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Concatenate all segments: {"particles": {...}, "observables": {...}, "terms": {...}}."""
    out: dict[str, dict[str, list]] = {"particles": {}, "observables": {}, "terms": {}}
    for seg in segments(directory):
        with h5py.File(seg, "r") as f:
            for group in out:
                if group in f:
                    for k, v in f[group].items():
                        out[group].setdefault(k, []).append(v[()])
    return {g: {k: np.concatenate(v) for k, v in d.items()} for g, d in out.items()}


def export_h5md(directory: str | Path, path: str | Path, *, author: str = "phyneo-flows") -> Path:
    """Merge the segments of ``directory`` into one H5MD 1.1 file at ``path`` (returned)."""
    data = read_trajectory(directory)
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    parts, obs, terms = data["particles"], data["observables"], data["terms"]
    with h5py.File(tmp, "w") as f:
        h5 = f.create_group("h5md")
        h5.attrs["version"] = np.array([1, 1])
        h5.create_group("author").attrs["name"] = author
        creator = h5.create_group("creator")
        creator.attrs["name"] = "phyneo-flows"
        creator.attrs["version"] = "0.1"
        if parts:
            allp = f.create_group("particles/all")
            box = allp.create_group("box")
            box.attrs["dimension"] = 3
            box.attrs["boundary"] = np.array([b"periodic"] * 3)
            _element(box, "edges", parts["box"], parts["step"], parts["time"], "nm")
            _element(allp, "position", parts["position"], parts["step"], parts["time"], "nm")
            if "velocity" in parts:
                _element(allp, "velocity", parts["velocity"], parts["step"], parts["time"], "nm ps-1")
        og = f.create_group("observables")
        for k, v in obs.items():
            if k in ("step", "time"):
                continue
            _element(og, k, v, obs["step"], obs["time"], UNITS.get(k, ""))
        tg = og.create_group("energy_terms")
        for k, v in terms.items():
            _element(tg, k, v, obs["step"], obs["time"], "kJ mol-1")
    os.replace(tmp, path)
    return path


def _element(group, name, value, step, time, unit):
    g = group.create_group(name)
    ds = g.create_dataset("value", data=np.asarray(value))
    if unit:
        ds.attrs["unit"] = unit
    g.create_dataset("step", data=np.asarray(step, dtype=np.int64))
    t = g.create_dataset("time", data=np.asarray(time, dtype=float))
    t.attrs["unit"] = "ps"


def read_h5md(path: str | Path) -> dict[str, np.ndarray]:
    """Read the arrays of an H5MD file written by :func:`export_h5md` (flat dict, keys like
    ``position``, ``box``, ``pressure_tensor``, ``term/<name>``, ``position_time``, ``time``)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        if "particles/all" in f:
            p = f["particles/all"]
            out["position"] = p["position/value"][()]
            out["position_step"] = p["position/step"][()]
            out["position_time"] = p["position/time"][()]
            out["box"] = p["box/edges/value"][()]
            if "velocity" in p:
                out["velocity"] = p["velocity/value"][()]
        for k, g in f["observables"].items():
            if k == "energy_terms":
                for t, tg in g.items():
                    out[f"term/{t}"] = tg["value"][()]
            else:
                out[k] = g["value"][()]
                out["step"] = g["step"][()]
                out["time"] = g["time"][()]
    return out
