"""The stability guard: it inspects each chunk before anything is written.

Trips on: a non-finite number (positions, velocities, energies, pressure), a temperature above
``max_temperature_factor`` times the target, two atoms of different molecules closer than
``min_distance_nm``, or the volume leaving [V0 / (1 + f), V0 (1 + f)] with f = ``max_volume_change``.
A trip names the quantity, its value and limit, the step, and the atoms and molecules involved, so the
report says where the run went wrong.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from phyneo_flows.errors import EngineError


class GuardConfig(BaseModel):
    """Limits of the stability guard and what to do on a trip."""

    max_temperature_factor: float = Field(2.0, gt=1.0, description="trip when T > factor x target T")
    min_distance_nm: float = Field(0.07, ge=0.0, description="closest allowed intermolecular distance, nm")
    max_volume_change: float = Field(0.3, gt=0.0, description="allowed relative volume change from the start")
    max_trips: int = Field(3, ge=0, description="trips allowed before the run stops")
    step_factor: float = Field(0.5, gt=0.0, lt=1.0, description="time step multiplier after each trip")


class Trip(BaseModel):
    """One guard trip."""

    quantity: str = Field(description="nan | temperature | close_contact | volume")
    value: float
    limit: float
    step: int
    atoms: list[int] = Field(default_factory=list)
    molecules: list[int] = Field(default_factory=list)
    timestep_ps: float = 0.0
    detail: str = ""


class MDInstabilityError(EngineError):
    """The run tripped the guard more often than allowed; ``trips`` says what happened each time."""

    def __init__(self, trips: list[Trip], report_path: str | None = None):
        last = trips[-1]
        where = f" atoms {last.atoms[:8]} (molecules {sorted(set(last.molecules))[:8]})" if last.atoms else ""
        super().__init__(
            f"MD unstable after {len(trips)} trips; last: {last.quantity} = {last.value:.4g} "
            f"(limit {last.limit:.4g}) at step {last.step}{where}. {last.detail}",
            field="md.timestep_ps",
            fix="minimise first, lower the time step or check the force field for the named atoms"
            + (f"; full report in {report_path}" if report_path else ""),
        )
        self.trips = trips
        self.report_path = report_path


def check_chunk(
    chunk: dict,
    *,
    target_temperature_k: float,
    reference_volume_nm3: float,
    molecules: np.ndarray,
    config: GuardConfig,
    timestep_ps: float,
) -> Trip | None:
    """The first trip in a chunk (see :mod:`phyneo_flows.md.backend` for the chunk layout), or None."""
    obs, parts = chunk["observables"], chunk["particles"]
    step = int(parts["step"][-1])
    pos, vel = parts["position"][-1], chunk["final_velocity"]
    bad = ~np.isfinite(pos).all(1) | ~np.isfinite(vel).all(1)
    scalars_ok = all(np.isfinite(np.asarray(v)).all() for v in obs.values()) and all(
        np.isfinite(np.asarray(v)).all() for v in chunk["terms"].values()
    )
    if bad.any() or not scalars_ok:
        atoms = np.flatnonzero(bad).tolist()
        terms = [k for k, v in chunk["terms"].items() if not np.isfinite(v).all()]
        return Trip(
            quantity="nan",
            value=float("nan"),
            limit=0.0,
            step=step,
            atoms=atoms,
            molecules=molecules[atoms].tolist(),
            timestep_ps=timestep_ps,
            detail=f"non-finite energy terms: {terms}" if terms else "",
        )
    t_max = config.max_temperature_factor * target_temperature_k
    temps = np.asarray(obs["temperature"])
    if temps.max() > t_max:
        masses = chunk["masses"]
        ke = 0.5 * masses * np.sum(vel * vel, 1)
        atoms = np.argsort(ke)[::-1][:5].tolist()
        return Trip(
            quantity="temperature",
            value=float(temps.max()),
            limit=t_max,
            step=step,
            atoms=atoms,
            molecules=molecules[atoms].tolist(),
            timestep_ps=timestep_ps,
            detail="atoms listed by kinetic energy at the end of the chunk",
        )
    dmin, pair = chunk["min_distance"], chunk["min_pair"]
    if dmin < config.min_distance_nm:
        atoms = [int(pair[0]), int(pair[1])]
        return Trip(
            quantity="close_contact",
            value=float(dmin),
            limit=config.min_distance_nm,
            step=step,
            atoms=atoms,
            molecules=molecules[atoms].tolist(),
            timestep_ps=timestep_ps,
        )
    vols = np.asarray(obs["volume"])
    f = 1.0 + config.max_volume_change
    lo, hi = reference_volume_nm3 / f, reference_volume_nm3 * f
    if vols.min() < lo or vols.max() > hi:
        v = float(vols.min() if vols.min() < lo else vols.max())
        return Trip(
            quantity="volume",
            value=v,
            limit=lo if v < lo else hi,
            step=step,
            timestep_ps=timestep_ps,
            detail=f"volume left [{lo:.4g}, {hi:.4g}] nm^3 (density running away)",
        )
    return None
