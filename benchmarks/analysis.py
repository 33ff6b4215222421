"""Speed of the FFT estimators against direct O(T^2) sums in the same process (ratios, not absolutes).

    .venv/bin/python benchmarks/analysis.py
"""

from __future__ import annotations

import time

import numpy as np

from phyneo_flows.analysis.diffusion import msd_fft
from phyneo_flows.analysis.statistics import cross_correlation


def _timed(fn, *args, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _msd_direct(x: np.ndarray, max_lag: int) -> np.ndarray:
    return np.array([np.mean(np.sum((x[k:] - x[: x.shape[0] - k]) ** 2, axis=2), axis=0) for k in range(max_lag)])


def _acf_direct(x: np.ndarray, max_lag: int) -> np.ndarray:
    n = x.shape[0]
    return np.array([np.mean(x[: n - k] * x[k:], axis=0) for k in range(max_lag)])


def main() -> None:
    """Print FFT vs direct timings for an MSD (2000 frames x 100 particles) and a stress ACF."""
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(2000, 100, 3)), axis=0)
    t_fft = _timed(msd_fft, x, 1000)
    t_dir = _timed(_msd_direct, x, 1000, repeat=1)
    print(f"MSD 2000 frames x 100 particles, 1000 lags: FFT {t_fft:.3f} s, direct {t_dir:.3f} s, "
          f"ratio {t_dir / t_fft:.1f}")
    s = rng.normal(size=(100_000, 6))
    t_fft = _timed(cross_correlation, s, s, 5000)
    t_dir = _timed(_acf_direct, s, 5000, repeat=1)
    print(f"ACF 100000 samples x 6 components, 5000 lags: FFT {t_fft:.3f} s, direct {t_dir:.3f} s, "
          f"ratio {t_dir / t_fft:.1f}")


if __name__ == "__main__":
    main()
