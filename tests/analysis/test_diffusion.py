"""Self-diffusion on Brownian motion (MSD = 6 D t exactly) and the Yeh-Hummer correction."""

import numpy as np
import pytest

from phyneo_flows.analysis.diffusion import centres, msd_fft, self_diffusion, yeh_hummer
from phyneo_flows.errors import InputError
from tests.analysis.synthetic import brownian


def test_msd_fft_equals_direct_average():
    rng = np.random.default_rng(11)
    x = brownian(200, 5, 0.1, 0.3, rng)
    fast = msd_fft(x, max_lag=50)
    direct = np.array([np.mean(np.sum((x[k:] - x[: x.shape[0] - k]) ** 2, axis=2), axis=0) for k in range(51)])
    np.testing.assert_allclose(fast, direct, rtol=1e-9, atol=1e-10)


def test_brownian_diffusion_per_species():
    rng = np.random.default_rng(12)
    dt = 0.5
    x = np.concatenate([brownian(2000, 100, dt, 0.2, rng), brownian(2000, 100, dt, 0.05, rng)], axis=1)
    labels = ["fast"] * 100 + ["slow"] * 100
    res = self_diffusion(x, dt, labels, remove_com=False)
    for name, d_true in (("fast", 0.2), ("slow", 0.05)):
        r = res[name]
        assert r.unit == "nm^2/ps" and r.n_independent == 5
        assert abs(r.value - d_true) < 4 * r.uncertainty
        assert r.uncertainty / d_true < 0.05
        assert r.details["diffusive_regime_found"]


def test_independent_runs_give_the_error_bar():
    rng = np.random.default_rng(13)
    runs = [brownian(500, 50, 1.0, 0.1, rng) for _ in range(4)]
    r = self_diffusion(runs, 1.0, fit_window_ps=(10.0, 100.0))["all"]
    assert r.n_independent == 4 and r.fit_window == (10.0, 100.0)
    assert abs(r.value - 0.1) < 4 * r.uncertainty


def test_yeh_hummer_for_water():
    # TIP3P-like water, L = 3 nm, 298 K, eta = 0.321 mPa s: kT xi / (6 pi eta L) in SI
    kt = 1.380649e-23 * 298.0
    expected_m2_s = kt * 2.837297 / (6 * np.pi * 0.321e-3 * 3.0e-9)
    from phyneo_flows.analysis.schemas import PropertyResult

    d = PropertyResult(name="self_diffusion:water", value=0.005, uncertainty=0.0001, unit="nm^2/ps",
                       method="test", n_samples=1)
    out = yeh_hummer(d, 0.321, 3.0, 298.0, viscosity_uncertainty_mpa_s=0.0321)
    assert (out.value - 0.005) * 1e-6 == pytest.approx(expected_m2_s, rel=1e-6)
    assert out.uncertainty > 0.1 * (out.value - 0.005)


def test_centres_of_charge():
    x = np.array([[[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]]])
    c = centres(x, np.array([2.0, -3.0, 1.0]), np.array([0, 0, 1]))
    np.testing.assert_allclose(c[0], [[3.0, 0, 0], [5.0, 0, 0]])  # (2*0 - 3*1) / (-1) = 3
    with pytest.raises(InputError):
        centres(x, np.array([1.0, -1.0, 1.0]), np.array([0, 0, 1]))


def test_bad_positions():
    with pytest.raises(InputError):
        self_diffusion(np.zeros((100, 4)), 1.0)
    x = np.zeros((100, 4, 3))
    x[5, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        self_diffusion(x, 1.0)
    with pytest.raises(InputError, match="dt_ps"):
        self_diffusion(np.zeros((100, 4, 3)), -1.0)
