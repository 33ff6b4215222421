"""Statistics estimators against AR(1) processes, whose inefficiency is known in closed form."""

import numpy as np
import pytest

from phyneo_flows.analysis.statistics import (
    autocovariance,
    block_average,
    detect_equilibration,
    statistical_inefficiency,
)
from phyneo_flows.errors import InputError
from tests.analysis.synthetic import ar1


def test_autocovariance_matches_direct_sum():
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    c = autocovariance(x, max_lag=20)
    y = x - x.mean()
    direct = [np.mean(y[: y.size - k] * y[k:]) for k in range(21)]
    np.testing.assert_allclose(c, direct, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_statistical_inefficiency_of_ar1(phi):
    rng = np.random.default_rng(2)
    x = ar1(200_000, phi, rng)
    exact = (1 + phi) / (1 - phi)  # g = 1 + 2 sum phi^k
    assert statistical_inefficiency(x) == pytest.approx(exact, rel=0.08)


def test_block_average_error_of_ar1():
    rng = np.random.default_rng(3)
    phi, n = 0.9, 2**17
    x = ar1(n, phi, rng)
    res = block_average(x)
    var = 1.0 / (1 - phi**2)
    exact_sem = np.sqrt(var * (1 + phi) / (1 - phi) / n)
    assert res.sem == pytest.approx(exact_sem, rel=0.15)
    assert res.level > 2  # correlated data must be blocked
    white = block_average(rng.normal(size=n))
    assert white.sem == pytest.approx(1 / np.sqrt(n), rel=0.1)


def test_detect_equilibration_drops_transient():
    rng = np.random.default_rng(4)
    n = 5000
    t = np.arange(n)
    x = 20.0 * np.exp(-t / 100.0) + ar1(n, 0.5, rng)
    eq = detect_equilibration(x)
    assert 250 <= eq.t0 <= 1200
    stationary = detect_equilibration(ar1(n, 0.5, rng))
    assert stationary.t0 < 500


def test_bad_series_rejected():
    with pytest.raises(InputError):
        statistical_inefficiency([1.0, np.nan, 2.0, 3.0])
    with pytest.raises(InputError):
        block_average(np.ones((4, 4)))


def test_block_average_uses_every_sample_of_a_series_that_is_not_a_power_of_two():
    """The blocking needs 2**d samples, but the mean and its error are those of the whole series: white
    noise of 3000 samples has an error 1/sqrt(3000), not the 1/sqrt(2048) of its last 2048 samples, and the
    mean of AR(1) data (phi 0.9, error sqrt(g var / N)) counts its first 952 samples too."""
    rng = np.random.default_rng(5)
    n = 3000
    white = block_average(rng.normal(size=n))
    assert white.n_samples == n
    assert white.sem == pytest.approx(1 / np.sqrt(n), rel=0.08)
    phi = 0.9
    x = ar1(n, phi, rng) + 1.0
    x[: n - 2048] += 0.5  # the samples the blocking does not see still count in the mean
    res = block_average(x)
    assert res.mean == pytest.approx(x.mean(), abs=1e-12)
    exact_sem = np.sqrt(1.0 / (1 - phi**2) * (1 + phi) / (1 - phi) / n)
    assert res.sem == pytest.approx(exact_sem, rel=0.35)
