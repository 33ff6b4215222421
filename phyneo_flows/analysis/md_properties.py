"""Bulk properties of one MD run read from its H5MD trajectory, each beside experiment.

``trajectory_properties(path, species, temperature_k, systems)`` returns :class:`PropertyRecord` s:
density (equilibration detected and dropped, blocking error), self-diffusion per species (molecular centres
of mass, 10^-9 m^2/s), conductivity by Einstein-Helfand and Nernst-Einstein when ions are present, and the
Green-Kubo viscosity when the trajectory holds a pressure tensor. A property the run is too short for is
left out and the reason returned beside the records. Frames before the detected equilibration time are
dropped for every property. No jobflow here: a notebook can call it on any H5MD file of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phyneo_flows.analysis.conductivity import einstein_helfand, nernst_einstein
from phyneo_flows.analysis.density import density
from phyneo_flows.analysis.diffusion import centres, self_diffusion
from phyneo_flows.analysis.experiment import lookup
from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.viscosity import viscosity_green_kubo
from phyneo_flows.errors import InputError
from phyneo_flows.md.trajectory import read_h5md
from phyneo_flows.schemas import ExperimentValue, PropertyRecord

NM2_PS_TO_1E9_M2_S = 1e3  # 1 nm^2/ps = 1e-6 m^2/s = 1000 x 1e-9 m^2/s
# our property name -> the experiment table's
EXPERIMENT_NAMES = {"density": "density", "viscosity": "viscosity", "conductivity": "conductivity",
                    "conductivity_ne": "conductivity"}


def experiment_for(name: str, systems: Sequence[str], temperature_k: float | None,
                   extra_path: str | Path | None = None) -> ExperimentValue | None:
    """The nearest-temperature entry of the first of ``systems`` that has one (diffusion_X: self_diffusion)."""
    prop = "self_diffusion" if name.startswith("diffusion_") else EXPERIMENT_NAMES.get(name, name)
    for system in systems:
        hits = lookup(system, prop, temperature_k, extra_path=extra_path)
        if hits:
            e = hits[0]
            return ExperimentValue(value=e.value, unit=e.unit, source=e.source, temperature_k=e.temperature_k,
                                   uncertainty=e.uncertainty)
    return None


def _record(name: str, res: PropertyResult, scale: float = 1.0, unit: str | None = None) -> PropertyRecord:
    return PropertyRecord(name=name, value=res.value * scale, uncertainty=res.uncertainty * scale,
                          unit=unit or res.unit, method=res.method, temperature_k=res.temperature_k,
                          details={"fit_window_ps": res.fit_window, "n_samples": res.n_samples,
                                   "n_independent": res.n_independent, **res.details})


def trajectory_properties(
    trajectory: str | Path,
    species: Sequence[dict[str, Any]],
    temperature_k: float,
    systems: Sequence[str] = (),
    *,
    experiments_file: str | Path | None = None,
    n_bootstrap: int = 200,
    transport: bool = True,
) -> tuple[list[PropertyRecord], dict[str, str]]:
    """(records, skipped) of an NPT run. ``species``: dicts with name, count, n_atoms, charge and
    atom_masses_amu (one entry per atom of one molecule), in the order of the trajectory's atoms;
    ``n_bootstrap`` resamplings give the viscosity's error bar (the slowest step). ``transport`` False (a run
    with repartitioned hydrogen masses): density only, diffusion/conductivity/viscosity listed as skipped."""
    data = read_h5md(trajectory)
    masses = np.concatenate([np.tile(np.asarray(s["atom_masses_amu"], float), s["count"]) for s in species])
    labels = [s["name"] for s in species for _ in range(s["count"])]
    charges = np.array([s["charge"] for s in species for _ in range(s["count"])], dtype=float)
    groups = np.repeat(np.arange(len(labels)), [s["n_atoms"] for s in species for _ in range(s["count"])])
    if data["position"].shape[1] != masses.size:
        raise InputError(f"the trajectory has {data['position'].shape[1]} atoms, the species {masses.size}",
                         field="species")
    t_obs = np.asarray(data["time"])
    dt_obs = float(t_obs[1] - t_obs[0])
    records: list[PropertyRecord] = []
    skipped: dict[str, str] = {}

    rho = density(float(masses.sum()), data["volume"], dt_ps=dt_obs, trajectory=str(trajectory),
                  temperature_k=temperature_k)
    t0_ps = float(t_obs[rho.details["t0_index"]])
    records.append(_record("density", rho))
    volume = float(np.mean(data["volume"][rho.details["t0_index"]:]))
    if not transport:
        why = "the run repartitioned hydrogen masses: its dynamics are not physical (density only)"
        skipped |= {"diffusion": why, "viscosity": why}
        if np.any(charges != 0):
            skipped["conductivity"] = why
        for r in records:
            r.experiment = experiment_for(r.name, systems, temperature_k, experiments_file)
        return records, skipped

    t_pos = np.asarray(data["position_time"])
    keep = t_pos >= t0_ps
    if keep.sum() < 40:  # keep enough frames for five blocks of eight
        keep = np.ones_like(keep)
    pos = data["position"][keep]
    dt_pos = float(t_pos[1] - t_pos[0]) if t_pos.size > 1 else dt_obs
    diffusion: dict[str, PropertyResult] = {}
    try:
        com = centres(pos, masses, groups)
        diffusion = self_diffusion(com, dt_pos, labels, trajectory=str(trajectory), temperature_k=temperature_k)
        for name, res in diffusion.items():
            records.append(_record(f"diffusion_{name}", res, NM2_PS_TO_1E9_M2_S, "1e-9 m^2/s"))
    except InputError as err:
        skipped["diffusion"] = str(err)

    ions = np.flatnonzero(charges != 0)
    if ions.size:
        try:
            com = centres(pos, masses, groups)
            records.append(_record("conductivity", einstein_helfand(
                com[:, ions], charges[ions], dt_pos, volume, temperature_k, trajectory=str(trajectory))))
        except InputError as err:
            skipped["conductivity"] = str(err)
        if diffusion:
            by = {s["name"]: (s["count"], float(s["charge"]), diffusion[s["name"]]) for s in species
                  if s["charge"] and s["name"] in diffusion}
            records.append(_record("conductivity_ne", nernst_einstein(by, volume, temperature_k)))
    if "pressure_tensor" in data:
        try:
            p = np.asarray(data["pressure_tensor"])[rho.details["t0_index"]:]
            records.append(_record("viscosity", viscosity_green_kubo(p, dt_obs, volume, temperature_k,
                                                                     n_bootstrap=n_bootstrap,
                                                                     trajectory=str(trajectory))))
        except (InputError, RuntimeError, ValueError, TypeError) as err:
            skipped["viscosity"] = f"{type(err).__name__}: {err}"
    else:
        skipped["viscosity"] = "the trajectory holds no pressure tensor"
    for r in records:
        r.experiment = experiment_for(r.name, systems, temperature_k, experiments_file)
    return records, skipped
