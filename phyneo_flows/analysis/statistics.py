"""Statistics of correlated time series: autocorrelation, statistical inefficiency, equilibration
detection (Chodera, J. Chem. Theory Comput. 12, 1799 (2016)) and blocking (Flyvbjerg & Petersen,
J. Chem. Phys. 91, 461 (1989), with the automatic level choice of Jonsson, Phys. Rev. E 98, 043304
(2018)). Own implementations; pymbar is not needed.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from phyneo_flows.analysis.schemas import BlockAverage, Equilibration
from phyneo_flows.errors import InputError


def as_series(x: np.ndarray | list[float], *, field: str = "series", min_len: int = 4) -> np.ndarray:
    """A finite 1-D float array, or InputError naming ``field``."""
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise InputError(f"expected a 1-D series, got shape {a.shape}", field=field)
    if a.size < min_len:
        raise InputError(f"need at least {min_len} samples, got {a.size}", field=field,
                         fix="analyse a longer trajectory")
    if not np.all(np.isfinite(a)):
        raise InputError("series contains NaN or inf", field=field, fix="drop the broken frames")
    return a


def autocovariance(x: np.ndarray, max_lag: int | None = None, *, axis: int = 0) -> np.ndarray:
    """Autocovariance <dx(0) dx(t)> averaged over all time origins (FFT, unbiased 1/(N-k)).

    Works along ``axis`` of an n-D array; the mean is removed first. Returns lags 0..max_lag.
    """
    a = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    n = a.shape[0]
    max_lag = n - 1 if max_lag is None else min(int(max_lag), n - 1)
    a = a - a.mean(axis=0)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(a, n=nfft, axis=0)
    acf = np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[: max_lag + 1]
    norm = (n - np.arange(max_lag + 1)).reshape((-1,) + (1,) * (a.ndim - 1))
    return np.moveaxis(acf / norm, 0, axis)


def cross_correlation(x: np.ndarray, y: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """<x(0) y(t)> over all time origins along axis 0, means NOT removed (FFT, 1/(N-k))."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    n = a.shape[0]
    max_lag = n - 1 if max_lag is None else min(int(max_lag), n - 1)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.conj(np.fft.rfft(a, n=nfft, axis=0)) * np.fft.rfft(b, n=nfft, axis=0), n=nfft,
                     axis=0)[: max_lag + 1]
    norm = (n - np.arange(max_lag + 1)).reshape((-1,) + (1,) * (a.ndim - 1))
    return c / norm


def statistical_inefficiency(x: np.ndarray | list[float], *, mintime: int = 3) -> float:
    """g = 1 + 2 sum_t (1 - t/N) C(t)/C(0), summed until C(t) first drops to zero or below.

    As in Chodera's method the sum runs at least ``mintime`` lags; g >= 1. A constant series gives 1.
    """
    a = as_series(x, field="series", min_len=2)
    n = a.size
    c = autocovariance(a)
    if c[0] <= 0.0:
        return 1.0
    rho = c / c[0]
    t = np.arange(1, n)
    terms = (1.0 - t / n) * rho[1:]
    nonpos = np.nonzero((rho[1:] <= 0.0) & (t > mintime))[0]
    stop = nonpos[0] if nonpos.size else n - 1
    g = 1.0 + 2.0 * float(np.sum(terms[:stop]))
    return max(1.0, g)


def detect_equilibration(x: np.ndarray | list[float], *, n_candidates: int = 200) -> Equilibration:
    """Choose the start t0 that maximises the effective samples (N - t0) / g(t0) (Chodera 2016).

    Candidates are ``n_candidates`` evenly spaced starts in the first half of the series (every start
    for short series), so the cost stays near n_candidates FFTs.
    """
    a = as_series(x, field="series", min_len=8)
    n = a.size
    starts = np.unique(np.linspace(0, n // 2, min(n_candidates, n // 2 + 1)).astype(int))
    best = (0, 1.0, -1.0)
    for t0 in starts:
        g = statistical_inefficiency(a[t0:])
        neff = (n - t0) / g
        if neff > best[2]:
            best = (int(t0), g, neff)
    return Equilibration(t0=best[0], statistical_inefficiency=best[1], n_effective=best[2], n_samples=n)


def block_average(x: np.ndarray | list[float], *, confidence: float = 0.99) -> BlockAverage:
    """Flyvbjerg-Petersen blocking with Jonsson's automatic choice of the blocking level.

    The blocking runs on the last 2**d samples (d = floor(log2 N)); at each level neighbouring samples
    are averaged pairwise. The level chosen is the first j whose statistic
    M_j = sum_{k>=j} n_k (gamma_k / s_k^2)^2 (gamma_k: lag-1 autocovariance at level k) falls below the
    chi-square quantile with d - j degrees of freedom, i.e. the blocks are uncorrelated.
    The mean is that of all N samples, and the errors (``sem`` and ``sems``) are those of the blocked
    2**d samples times sqrt(2**d / N): the same statistical inefficiency over all the data. (Up to
    session 18 the mean and error were those of the last 2**d samples alone, which drops up to half of
    a series: 1846 of 3894 samples of a 389-ps cosine-acceleration run.)
    """
    a = as_series(x, field="series", min_len=8)
    d = int(np.floor(np.log2(a.size)))
    y = a[a.size - 2**d:]
    n0 = y.size
    mean = float(a.mean())
    scale = float(np.sqrt(n0 / a.size))
    sems, gammas, s2s, ns = [], [], [], []
    for _ in range(d):
        n = y.size
        mu = y.mean()
        s2 = float(np.mean((y - mu) ** 2))
        gamma = float(np.mean((y[:-1] - mu) * (y[1:] - mu))) if n > 1 else 0.0
        s2s.append(s2)
        gammas.append(gamma)
        ns.append(n)
        sems.append(scale * float(np.sqrt(s2 / (n - 1))) if n > 1 else float("nan"))
        y = 0.5 * (y[0::2] + y[1::2])
    s2s_a = np.array(s2s)
    if np.all(s2s_a == 0.0):
        return BlockAverage(mean=mean, sem=0.0, sem_uncertainty=0.0, level=0, n_blocks=n0, n_samples=a.size,
                            sems=[0.0] * d, statistical_inefficiency=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.array(ns) * np.where(s2s_a > 0, (np.array(gammas) / s2s_a) ** 2, 0.0)
    m = np.cumsum(terms[::-1])[::-1]
    q = stats.chi2.ppf(confidence, np.arange(d, 0, -1))
    level = d - 1
    for j in range(d):
        if m[j] < q[j]:
            level = j
            break
    n_blocks = ns[level]
    sem = sems[level]
    naive = sems[0]
    return BlockAverage(
        mean=mean, sem=sem, sem_uncertainty=sem / np.sqrt(2.0 * (n_blocks - 1)) if n_blocks > 1 else sem,
        level=level, n_blocks=n_blocks, n_samples=a.size, sems=sems,
        statistical_inefficiency=float((sem / naive) ** 2) if naive > 0 else 1.0)
