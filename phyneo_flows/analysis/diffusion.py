"""Self-diffusion from unwrapped positions (Einstein relation, FFT mean-squared displacement) and the
Yeh-Hummer finite-size correction.

Units: positions in nm, time in ps, D in nm^2/ps (1 nm^2/ps = 1e-5 cm^2/s), viscosity in mPa s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.statistics import cross_correlation
from phyneo_flows.errors import InputError
from phyneo_flows.units import AVOGADRO, BOLTZMANN_KJ_MOL_K

YEH_HUMMER_XI = 2.837297  # cubic lattice constant of the Oseen-tensor Ewald sum
NM2_PS_TO_CM2_S = 1e-5


def check_positions(positions: np.ndarray, *, field: str = "positions", min_frames: int = 8) -> np.ndarray:
    """A finite (frames, atoms, 3) float array, or InputError naming ``field``."""
    x = np.asarray(positions, dtype=float)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(f"expected shape (frames, atoms, 3), got {x.shape}", field=field)
    if x.shape[0] < min_frames:
        raise InputError(f"need at least {min_frames} frames, got {x.shape[0]}", field=field)
    if not np.all(np.isfinite(x)):
        raise InputError("positions contain NaN or inf", field=field)
    return x


def msd_fft(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Mean-squared displacement of every particle, all time origins, O(T log T) per particle.

    ``positions`` (frames, particles, 3) must be unwrapped. Returns (lags, particles) in nm^2:
    MSD(m) = S1(m) - 2 S2(m), S1 from cumulative sums of |r|^2, S2 the positional autocorrelation.
    """
    r = np.asarray(positions, dtype=float)
    n = r.shape[0]
    max_lag = n - 1 if max_lag is None else min(int(max_lag), n - 1)
    r = r - r[0]  # translation invariance; improves floating-point cancellation
    d = np.sum(r * r, axis=2)
    cs = np.concatenate([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)])
    m = np.arange(max_lag + 1)
    total = cs[-1]
    s1 = (cs[n - m] + (total - cs[m])) / (n - m)[:, None]
    s2 = cross_correlation(r, r, max_lag=max_lag).sum(axis=2)
    return s1 - 2.0 * s2


def centres(positions: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Weighted centres of groups of atoms: (frames, atoms, 3) -> (frames, groups, 3).

    ``groups`` gives each atom's group index 0..G-1 (e.g. molecule id); ``weights`` are masses for
    centres of mass or charges for centres of charge (a group's weights must not sum to zero).
    Positions must be unwrapped so that no molecule is split across the box.
    """
    x = np.asarray(positions, dtype=float)
    w = np.asarray(weights, dtype=float)
    g = np.asarray(groups, dtype=int)
    if w.shape != (x.shape[1],) or g.shape != (x.shape[1],):
        raise InputError("weights and groups need one entry per atom", field="groups")
    n_g = int(g.max()) + 1
    wsum = np.bincount(g, weights=w, minlength=n_g)
    if np.any(np.abs(wsum) < 1e-12):
        raise InputError("a group has zero total weight (a neutral molecule has no centre of charge)",
                         field="weights", fix="use masses, or only charged molecules")
    out = np.zeros((x.shape[0], n_g, 3))
    for a in range(3):
        out[:, :, a] = np.stack([np.bincount(g, weights=w * x[f, :, a], minlength=n_g)
                                 for f in range(x.shape[0])]) / wsum
    return out


def diffusive_window(t: np.ndarray, msd: np.ndarray, *, end_fraction: float = 0.3, tol: float = 0.1,
                     min_time: float = 0.0) -> tuple[int, int, bool]:
    """Indices (start, end) of a fit window in the diffusive regime of a mean MSD curve.

    The local log-log slope d ln MSD / d ln t is evaluated on a logarithmic grid up to
    ``end_fraction`` of the run; the window starts where the slope stays within ``tol`` of 1 to the
    end. Returns (start, end, diffusive): ``diffusive`` is False when no such stretch spans a factor 2
    in time, in which case the last factor 3 before the end is used.
    """
    end = max(3, int(end_fraction * (t.size - 1)))
    grid = np.unique(np.geomspace(1, end, 40).astype(int))
    grid = grid[msd[grid] > 0]
    lt, lm = np.log(t[grid]), np.log(msd[grid])
    slope = np.gradient(lm, lt)
    ok = np.abs(slope - 1.0) < tol
    start_i = grid[-1]
    for k in range(grid.size - 1, -1, -1):
        if not ok[k]:
            break
        start_i = grid[k]
    start_i = max(start_i, int(np.searchsorted(t, min_time)))
    if t[end] / max(t[start_i], 1e-300) >= 2.0:
        return int(start_i), int(end), True
    return max(1, end // 3), int(end), False


def _segments(positions: np.ndarray | Sequence[np.ndarray], n_blocks: int) -> list[np.ndarray]:
    if isinstance(positions, np.ndarray) and positions.ndim == 3:
        runs = [check_positions(positions)]
    else:
        runs = [check_positions(p, field=f"positions[{i}]") for i, p in enumerate(positions)]
    if len(runs) >= 3:
        n = min(r.shape[0] for r in runs)
        return [r[:n] for r in runs]
    segs = []
    for r in runs:
        seg = r.shape[0] // n_blocks
        if seg < 8:
            raise InputError(f"too few frames ({r.shape[0]}) for {n_blocks} blocks", field="positions",
                             fix="give a longer trajectory or several runs")
        segs += [r[i * seg:(i + 1) * seg] for i in range(n_blocks)]
    n = min(s.shape[0] for s in segs)
    return [s[:n] for s in segs]


def _slope(t: np.ndarray, y: np.ndarray, i0: int, i1: int) -> float:
    return float(np.polyfit(t[i0:i1 + 1], y[i0:i1 + 1], 1)[0])


def einstein_slope(segments: list[np.ndarray], dt_ps: float, *, fit_window_ps: tuple[float, float] | None,
                   end_fraction: float, tol: float) -> dict:
    """Per-segment mean-MSD curves (summed over particles / averaged by caller), window and slopes."""
    t = np.arange(segments[0].shape[0]) * dt_ps
    curves = np.array([msd_fft(s).mean(axis=1) for s in segments])
    mean = curves.mean(axis=0)
    if fit_window_ps is None:
        i0, i1, diffusive = diffusive_window(t, mean, end_fraction=end_fraction, tol=tol)
    else:
        i0 = int(np.searchsorted(t, fit_window_ps[0]))
        i1 = min(int(np.searchsorted(t, fit_window_ps[1])), t.size - 1)
        diffusive = True
        if i1 - i0 < 2:
            raise InputError("fit window holds fewer than 3 frames", field="fit_window_ps")
    slopes = np.array([_slope(t, c, i0, i1) for c in curves])
    return {"t": t, "mean": mean, "i0": i0, "i1": i1, "diffusive": diffusive, "slopes": slopes}


def self_diffusion(
    positions: np.ndarray | Sequence[np.ndarray],
    dt_ps: float,
    species: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
    *,
    fit_window_ps: tuple[float, float] | None = None,
    n_blocks: int = 5,
    end_fraction: float = 0.3,
    tol: float = 0.1,
    remove_com: bool = True,
    trajectory: str | None = None,
    temperature_k: float | None = None,
) -> dict[str, PropertyResult]:
    """Self-diffusion coefficient (nm^2/ps) of every species: D = slope(MSD) / 6.

    ``positions``: unwrapped (frames, particles, 3) in nm, or a list of independent runs; use
    :func:`centres` first for molecules. ``species`` labels each particle (or maps a name to indices);
    default: one species "all". Independent estimates come from the runs (3 or more) or else from
    ``n_blocks`` consecutive time blocks; the error bar is their standard error. The fit window is
    chosen in the diffusive regime (log-log slope within ``tol`` of 1) unless given.
    """
    dt = float(dt_ps)
    if not np.isfinite(dt) or dt <= 0:
        raise InputError(f"must be positive, got {dt_ps}", field="dt_ps")
    segs = _segments(positions, n_blocks)
    n_part = segs[0].shape[1]
    if species is None:
        groups = {"all": np.arange(n_part)}
    elif isinstance(species, Mapping):
        groups = {k: np.asarray(v, dtype=int) for k, v in species.items()}
    else:
        labels = np.asarray(species)
        if labels.shape != (n_part,):
            raise InputError(f"species needs {n_part} labels, got {labels.shape}", field="species")
        groups = {str(k): np.nonzero(labels == k)[0] for k in dict.fromkeys(labels.tolist())}
    if remove_com:
        segs = [s - s.mean(axis=1, keepdims=True) for s in segs]
    out = {}
    for name, idx in groups.items():
        res = einstein_slope([s[:, idx] for s in segs], dt, fit_window_ps=fit_window_ps,
                             end_fraction=end_fraction, tol=tol)
        d_each = res["slopes"] / 6.0
        n_seg = d_each.size
        t = res["t"]
        out[name] = PropertyResult(
            name=f"self_diffusion:{name}", value=float(d_each.mean()),
            uncertainty=float(d_each.std(ddof=1) / np.sqrt(n_seg)), unit="nm^2/ps",
            method="Einstein MSD (FFT, all time origins), linear fit in the diffusive regime; "
                   "error: standard error over independent runs/blocks",
            fit_window=(float(t[res["i0"]]), float(t[res["i1"]])),
            n_samples=int(sum(s.shape[0] for s in segs)), n_independent=n_seg, trajectory=trajectory,
            temperature_k=temperature_k,
            details={"n_particles": int(len(idx)), "diffusive_regime_found": bool(res["diffusive"]),
                     "d_each": d_each.tolist()})
    return out


def yeh_hummer(diffusion: PropertyResult, viscosity_mpa_s: float, box_length_nm: float, temperature_k: float,
               *, viscosity_uncertainty_mpa_s: float = 0.0) -> PropertyResult:
    """Finite-size corrected D_inf = D_pbc + k_B T xi / (6 pi eta L) (Yeh & Hummer, J. Phys. Chem. B 108,
    15873 (2004)), xi = 2.837297, cubic box of edge L; the viscosity's error is propagated."""
    for val, field in ((viscosity_mpa_s, "viscosity_mpa_s"), (box_length_nm, "box_length_nm"),
                       (temperature_k, "temperature_k")):
        if not np.isfinite(val) or val <= 0:
            raise InputError(f"must be positive, got {val}", field=field)
    kt_j = BOLTZMANN_KJ_MOL_K * temperature_k * 1e3 / AVOGADRO
    corr_m2_s = kt_j * YEH_HUMMER_XI / (6.0 * np.pi * viscosity_mpa_s * 1e-3 * box_length_nm * 1e-9)
    corr = corr_m2_s * 1e6  # m^2/s -> nm^2/ps
    corr_err = corr * viscosity_uncertainty_mpa_s / viscosity_mpa_s
    return diffusion.model_copy(update={
        "name": diffusion.name + ":yeh_hummer",
        "value": diffusion.value + corr,
        "uncertainty": float(np.hypot(diffusion.uncertainty, corr_err)),
        "method": diffusion.method + "; Yeh-Hummer finite-size correction",
        "details": {**diffusion.details, "d_pbc": diffusion.value, "correction": corr,
                    "viscosity_mpa_s": viscosity_mpa_s, "box_length_nm": box_length_nm},
    })
