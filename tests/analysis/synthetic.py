"""Stochastic processes with analytically known answers, for estimator tests."""

from __future__ import annotations

import numpy as np
from scipy import signal


def ornstein_uhlenbeck(n: int, dt: float, tau: float, variance: float, rng: np.random.Generator,
                       shape: tuple[int, ...] = ()) -> np.ndarray:
    """Exact discretisation of a stationary OU process: <x(0)x(t)> = variance exp(-t/tau)."""
    a = np.exp(-dt / tau)
    b = np.sqrt(variance * (1.0 - a * a))
    xi = rng.normal(size=(n,) + shape)
    x0 = rng.normal(size=shape) * np.sqrt(variance)
    zi = (a * x0)[None, ...]
    return signal.lfilter([b], [1.0, -a], xi, axis=0, zi=zi)[0]


def ou_pressure_tensor(n: int, dt: float, tau: float, variance: float, rng: np.random.Generator,
                       pressure: float = 1.0) -> np.ndarray:
    """Isotropic random symmetric pressure tensors (n, 3, 3) whose shear-stress autocorrelation is
    variance * exp(-t/tau) in every direction, so int_0^inf <P_xy(0) P_xy(t)> dt = variance * tau.

    Off-diagonal elements are independent OU processes of the given variance; diagonal elements
    independent OU processes of twice that variance, which gives each traceless diagonal element
    4/3 of the shear variance, as rotational invariance requires.
    """
    off = ornstein_uhlenbeck(n, dt, tau, variance, rng, (3,))
    diag = ornstein_uhlenbeck(n, dt, tau, 2.0 * variance, rng, (3,))
    p = np.zeros((n, 3, 3))
    p[:, 0, 1] = p[:, 1, 0] = off[:, 0]
    p[:, 0, 2] = p[:, 2, 0] = off[:, 1]
    p[:, 1, 2] = p[:, 2, 1] = off[:, 2]
    for a in range(3):
        p[:, a, a] = diag[:, a] + pressure
    return p


def ar1(n: int, phi: float, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """AR(1) series x_k = phi x_{k-1} + sigma e_k (stationary start)."""
    e = rng.normal(size=n) * sigma
    x0 = rng.normal() * sigma / np.sqrt(1 - phi * phi)
    return signal.lfilter([1.0], [1.0, -phi], e, zi=[phi * x0])[0]


def brownian(n_frames: int, n_particles: int, dt: float, d: float, rng: np.random.Generator) -> np.ndarray:
    """Unwrapped 3-D Brownian trajectories with diffusion coefficient d: MSD(t) = 6 d t."""
    steps = rng.normal(size=(n_frames, n_particles, 3)) * np.sqrt(2.0 * d * dt)
    steps[0] = rng.uniform(0, 3.0, size=(n_particles, 3))
    return np.cumsum(steps, axis=0)
