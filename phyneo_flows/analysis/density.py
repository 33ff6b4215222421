"""Density after automatic equilibration detection, with a blocking error bar."""

from __future__ import annotations

import numpy as np

from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.statistics import as_series, block_average, detect_equilibration
from phyneo_flows.errors import InputError
from phyneo_flows.units import AVOGADRO

# 1 amu / nm^3 in g/cm^3: (1 g/mol / N_A) / (1e-21 cm^3)
AMU_PER_NM3_TO_G_PER_CM3 = 1e21 / AVOGADRO


def volumes_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """Volumes (nm^3) from box edge lengths (frames, 3) or box vectors (frames, 3, 3) in nm."""
    b = np.asarray(boxes, dtype=float)
    if b.ndim == 2 and b.shape[1] == 3:
        return np.prod(b, axis=1)
    if b.ndim == 3 and b.shape[1:] == (3, 3):
        return np.abs(np.linalg.det(b))
    raise InputError(f"boxes must have shape (frames, 3) or (frames, 3, 3), got {b.shape}", field="boxes")


def density(total_mass_amu: float, volumes_nm3: np.ndarray, *, dt_ps: float = 1.0,
            trajectory: str | None = None, temperature_k: float | None = None) -> PropertyResult:
    """Mass density (g/cm^3) of an NPT run from its volume series.

    The equilibration period is detected automatically (Chodera's method on the density series) and
    dropped; the mean of the rest gets a Flyvbjerg-Petersen blocking error bar. ``dt_ps`` is the time
    between volume samples (sets the reported window).
    """
    if not total_mass_amu > 0:
        raise InputError(f"total mass must be positive, got {total_mass_amu}", field="total_mass_amu")
    v = as_series(volumes_nm3, field="volumes_nm3", min_len=16)
    if np.any(v <= 0):
        raise InputError("volumes must be positive", field="volumes_nm3")
    rho = total_mass_amu / v * AMU_PER_NM3_TO_G_PER_CM3
    eq = detect_equilibration(rho)
    kept = rho[eq.t0:]
    blk = block_average(kept)
    return PropertyResult(
        name="density", value=float(kept.mean()), uncertainty=blk.sem, unit="g/cm^3",
        method="mean after equilibration detection (Chodera 2016); Flyvbjerg-Petersen blocking error",
        fit_window=(eq.t0 * dt_ps, (v.size - 1) * dt_ps), n_samples=int(kept.size),
        n_independent=blk.n_blocks, trajectory=trajectory, temperature_k=temperature_k,
        details={"t0_index": eq.t0, "statistical_inefficiency": eq.statistical_inefficiency,
                 "n_effective": eq.n_effective, "blocking_level": blk.level})
