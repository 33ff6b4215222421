"""Jobflow Makers over the analysis core (thin: the science is in the sibling modules).

``PropertiesMaker`` is the pipeline's properties stage: it reads an MD stage's H5MD trajectory and stores a
``PropertiesDocument``. ``ViscosityMaker`` and ``DiffusionMaker`` take paths of saved arrays (.npy) so that
big series stay out of the job documents; they return ``PropertyResult`` documents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel

from phyneo_flows.analysis.diffusion import self_diffusion
from phyneo_flows.analysis.md_properties import trajectory_properties
from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.viscosity import viscosity_green_kubo
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.schemas import PropertiesDocument, input_hash


@dataclass
class PropertiesMaker(Maker):
    """Density, diffusion, conductivity and viscosity of one MD stage's run, each beside experiment.

    ``make(md, systems=None)``: ``md`` an MD stage document (``phyneo_flows.md.jobs.MDStageDocument`` or
    its dict); ``systems`` the names to look up in the experiment table (default: the formulation's name,
    then the species when there is only one). Reuses a stored result of the same trajectory.
    """

    name: str = "properties"
    experiments_file: str | None = None
    n_bootstrap: int = 200

    def key(self, md_key: str) -> str:
        return input_hash("properties", md_key, self.experiments_file, self.n_bootstrap)

    @job(config=REUSE_CONFIG)
    def make(self, md, systems: list[str] | None = None) -> PropertiesDocument:
        if isinstance(md, BaseModel):
            md = md.model_dump()
        key = self.key(md.get("input_hash", ""))
        if (done := previous("properties", key)) is not None:
            return PropertiesDocument.model_validate(done)
        start = time.perf_counter()
        if systems is None:
            systems = [md["formulation"]] + ([md["species"][0]["name"]] if len(md["species"]) == 1 else [])
        temperature = md["config"]["temperature_k"]
        records, skipped = trajectory_properties(md["trajectory"], md["species"], temperature, systems,
                                                 experiments_file=self.experiments_file,
                                                 n_bootstrap=self.n_bootstrap,
                                                 transport=md.get("hydrogen_mass_amu") is None)
        return PropertiesDocument(formulation=md["formulation"], generation=md.get("generation", 0),
                                  input_hash=key, properties=records, skipped=skipped,
                                  trajectory=md["trajectory"], md_job_key=md.get("input_hash", ""),
                                  wall_time_s=time.perf_counter() - start, cores=1)


@dataclass
class ViscosityMaker(Maker):
    """Green-Kubo viscosity (time decomposition) of one or more saved (samples, 3, 3) series in bar."""

    name: str = "viscosity green-kubo"
    n_segments: int | None = None
    max_time_ps: float | None = None

    @job
    def make(self, pressure_tensor_files: list[str], dt_ps: float, volume_nm3: float,
             temperature_k: float) -> PropertyResult:
        """Viscosity in mPa s; each file is one independent run."""
        runs = [np.load(Path(f)) for f in pressure_tensor_files]
        return viscosity_green_kubo(runs, dt_ps, volume_nm3, temperature_k, n_segments=self.n_segments,
                                    max_time_ps=self.max_time_ps, trajectory=",".join(pressure_tensor_files))


@dataclass
class DiffusionMaker(Maker):
    """Self-diffusion per species from saved unwrapped positions (frames, particles, 3) in nm."""

    name: str = "self diffusion"
    fit_window_ps: tuple[float, float] | None = None

    @job
    def make(self, positions_files: list[str], dt_ps: float, species: list[str] | None = None,
             temperature_k: float | None = None) -> dict[str, PropertyResult]:
        """{species: D in nm^2/ps}; several files are independent runs."""
        runs = [np.load(Path(f)) for f in positions_files]
        return self_diffusion(runs if len(runs) > 1 else runs[0], dt_ps, species,
                              fit_window_ps=self.fit_window_ps, trajectory=",".join(positions_files),
                              temperature_k=temperature_k)
