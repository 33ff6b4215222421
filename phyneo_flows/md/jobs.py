"""Jobflow Makers over the MD core (the core imports nothing from jobflow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, Field

from phyneo_flows.md.guard import GuardConfig, Trip
from phyneo_flows.md.integrators import MDConfig


class MDRunDocument(BaseModel):
    """The stored record of an MD run (trajectory on disk; final positions in the data store)."""

    stage: str = "md"
    backend: str
    directory: str
    trajectory: str
    config: MDConfig
    n_atoms: int
    n_steps: int
    timestep_ps: float
    trips: list[Trip] = Field(default_factory=list)
    ns_per_day: float
    final_box_nm: list[list[float]]
    final_positions_nm: list[list[float]] = Field(description="(N, 3) nm (data store)")


@dataclass
class ForceFieldMDMaker(Maker):
    """Minimise (optional) and run the hybrid force field on the JAX back end, resumable in ``directory``.

    ``make(params, molecule_names, positions_nm, box_nm, directory)``: ``params`` a ForceFieldParams dict,
    ``box_nm`` a 3x3 matrix or an edge length.
    """

    name: str = "md"
    config: MDConfig = field(default_factory=MDConfig)
    n_steps: int = 1000
    minimise: bool = True
    guard: GuardConfig = field(default_factory=GuardConfig)
    checkpoint_interval_chunks: int = 10
    write_velocities: bool = False
    cutoff_nm: float = 0.9

    @job(data=["final_positions_nm"])
    def make(self, params: dict, molecule_names: list[str], positions_nm: list, box_nm, directory: str):
        from phyneo_flows.ff.model import FFSettings, ForceField, as_box
        from phyneo_flows.ff.params import ForceFieldParams
        from phyneo_flows.md.backend import JaxBackend
        from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
        from phyneo_flows.md.minimize import minimize
        from phyneo_flows.md.runner import CHECKPOINT, MDRunner

        ff = ForceField(
            ForceFieldParams.model_validate(params), molecule_names, FFSettings(cutoff=self.cutoff_nm)
        )
        box = as_box(box_nm)
        pot = force_field_potential(ff, box)
        pos = np.asarray(positions_nm, dtype=float)
        if self.minimise and not (Path(directory) / CHECKPOINT).exists():
            pos, _ = minimize(pot, pos, box)
        backend = JaxBackend(pot, atom_masses(ff), pos, box, self.config, molecules=ff.system.mol)
        report = MDRunner(
            backend,
            directory,
            checkpoint_interval_chunks=self.checkpoint_interval_chunks,
            write_velocities=self.write_velocities,
            guard=self.guard,
        ).run(self.n_steps)
        return MDRunDocument(
            backend="jax",
            directory=directory,
            trajectory=report.trajectory,
            config=self.config,
            n_atoms=len(pos),
            n_steps=report.n_steps,
            timestep_ps=report.timestep_ps,
            trips=report.trips,
            ns_per_day=report.ns_per_day,
            final_box_nm=np.asarray(backend.state.box).tolist(),
            final_positions_nm=np.asarray(backend.state.positions).tolist(),
        )
