"""Pydantic documents for analysed properties.

Every property carries its value, 1-sigma uncertainty, unit, the method that produced it, the fit
window (in ps unless the unit says otherwise), the number of samples it used, and where it came from.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PropertyResult(BaseModel):
    """One analysed property with its error bar and provenance."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="property name, e.g. 'viscosity', 'self_diffusion:Li+'")
    value: float
    uncertainty: float = Field(description="1-sigma standard error of value, same unit")
    unit: str
    method: str = Field(description="estimator and how its uncertainty was obtained")
    fit_window: tuple[float, float] | None = Field(
        default=None, description="start and end of the fit or integration window (ps)")
    n_samples: int = Field(description="number of samples (frames or tensor samples) analysed")
    n_independent: int | None = Field(default=None, description="independent runs or blocks used")
    trajectory: str | None = Field(default=None, description="source trajectory (path, hash or id)")
    temperature_k: float | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="method-specific extras")

    @property
    def relative_uncertainty(self) -> float:
        """uncertainty / |value| (inf for a zero value)."""
        return self.uncertainty / abs(self.value) if self.value else float("inf")


class BlockAverage(BaseModel):
    """Flyvbjerg-Petersen blocking analysis of a correlated series."""

    mean: float = Field(description="mean of all n_samples samples")
    sem: float = Field(description="standard error of the mean at the chosen blocking level (blocking on the "
                                   "last 2**d samples, scaled to all n_samples)")
    sem_uncertainty: float = Field(description="1-sigma uncertainty of sem itself")
    level: int = Field(description="chosen blocking level (block length 2**level samples)")
    n_blocks: int = Field(description="blocks at the chosen level, of the last 2**d samples")
    n_samples: int
    sems: list[float] = Field(description="standard error estimate at every level")
    statistical_inefficiency: float = Field(description="(sem/naive sem)^2 at the chosen level")


class Equilibration(BaseModel):
    """Result of automatic equilibration detection (Chodera 2016)."""

    t0: int = Field(description="index of the first sample kept")
    statistical_inefficiency: float
    n_effective: float = Field(description="effectively uncorrelated samples after t0")
    n_samples: int
