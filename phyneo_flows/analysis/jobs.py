"""Jobflow Makers over the analysis core (thin: the science is in the sibling modules).

Inputs are paths of saved arrays (.npy) so that big series stay out of the job documents; outputs are
``PropertyResult`` documents carrying the source path as ``trajectory``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jobflow import Maker, job

from phyneo_flows.analysis.diffusion import self_diffusion
from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.viscosity import viscosity_green_kubo


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
