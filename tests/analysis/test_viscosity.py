"""Green-Kubo and periodic-perturbation estimators on processes with a known viscosity."""

import numpy as np
import pytest

from phyneo_flows.analysis.viscosity import (
    green_kubo_running_integral,
    velocity_profile_amplitude,
    viscosity_green_kubo,
    viscosity_periodic_perturbation,
    viscosity_zero_wavenumber,
)
from phyneo_flows.errors import InputError
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K
from tests.analysis.synthetic import ou_pressure_tensor

T, V = 300.0, 27.0
TAU, VAR, DT = 0.2, 250.0**2, 0.02  # ps, bar^2, ps


def _exact_mpa_s():
    # eta = V/(kT) * int <Pxy Pxy> = V/(kT) * VAR * TAU ; SI: m^3/J * Pa^2 * s = Pa s
    kt_j = BOLTZMANN_KJ_MOL_K * T * 1e3 / 6.02214076e23
    return V * 1e-27 / kt_j * VAR * 1e10 * TAU * 1e-12 * 1e3


def test_exact_value_in_si():
    # the module's constant agrees with the SI evaluation above
    assert BAR_NM3_TO_KJ_MOL * 1e-4 * V * VAR * TAU / (BOLTZMANN_KJ_MOL_K * T) == pytest.approx(_exact_mpa_s())


def test_running_integral_of_ou_tensor():
    rng = np.random.default_rng(5)
    p = ou_pressure_tensor(400_000, DT, TAU, VAR, rng)
    t, eta = green_kubo_running_integral(p, DT, V, T, max_lag=200)
    plateau = eta[(t > 1.5) & (t < 2.5)].mean()
    assert plateau == pytest.approx(_exact_mpa_s(), rel=0.05)


def test_time_decomposition_recovers_known_viscosity():
    rng = np.random.default_rng(6)
    runs = [ou_pressure_tensor(40_000, DT, TAU, VAR, rng) for _ in range(8)]
    res = viscosity_green_kubo(runs, DT, V, T)
    exact = _exact_mpa_s()
    assert res.unit == "mPa s" and res.n_independent == 64  # 8 runs x 8 segments
    assert abs(res.value - exact) < 3 * res.uncertainty + 0.01 * exact
    assert res.uncertainty / exact < 0.05
    assert res.fit_window[1] > 5 * TAU  # integrated well past the decay


def test_block_means_leave_green_kubo_integral_unchanged():
    rng = np.random.default_rng(7)
    runs = [ou_pressure_tensor(40_000, DT, TAU, VAR, rng) for _ in range(8)]
    fine = viscosity_green_kubo(runs, DT, V, T, n_bootstrap=20)
    w = 10  # block means over 10 samples (0.2 ps = tau)
    coarse_runs = [r[: r.shape[0] // w * w].reshape(-1, w, 3, 3).mean(axis=1) for r in runs]
    coarse = viscosity_green_kubo(coarse_runs, DT * w, V, T, n_segments=8, n_bootstrap=20)
    assert coarse.value == pytest.approx(fine.value, rel=0.04)


def test_single_run_is_segmented():
    rng = np.random.default_rng(8)
    p = ou_pressure_tensor(200_000, DT, TAU, VAR, rng)
    res = viscosity_green_kubo(p, DT, V, T, n_bootstrap=60)
    assert res.n_independent == 64
    assert abs(res.value - _exact_mpa_s()) < 3 * res.uncertainty + 0.02 * _exact_mpa_s()


def test_rejects_bad_input():
    rng = np.random.default_rng(9)
    p = ou_pressure_tensor(2000, DT, TAU, VAR, rng)
    with pytest.raises(InputError, match="dt_ps"):
        viscosity_green_kubo(p, -1.0, V, T)
    with pytest.raises(InputError, match="volume_nm3"):
        viscosity_green_kubo(p, DT, 0.0, T)
    with pytest.raises(InputError, match="shape"):
        viscosity_green_kubo(p[:, :2], DT, V, T)
    bad = p.copy()
    bad[10, 0, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        viscosity_green_kubo(bad, DT, V, T)


def test_periodic_perturbation_extrapolates_to_zero_amplitude():
    eta_true, rho, lz = 0.855, 0.997, 4.0
    k = 2 * np.pi / lz
    acc = np.array([0.02, 0.04, 0.06, 0.08])  # nm/ps^2
    # shear thinning: eta(A) = eta0 (1 - 2 A); V = A rho / (eta(A) k^2) (eta in mPa s = 1e-3 Pa s)
    eta_a = eta_true * (1 - 2.0 * acc)
    amp = acc * rho / (eta_a * k**2)
    res = viscosity_periodic_perturbation(acc, amp, rho, lz, amplitude_errors_nm_ps=0.01 * amp)
    assert res.value == pytest.approx(eta_true, rel=1e-6)
    # SI check of one point: eta = A rho / (V k^2)
    si = (acc[0] * 1e15) * (rho * 1e3) / ((amp[0] * 1e3) * (k * 1e9) ** 2)
    assert res.details["eta_each_mpa_s"][0] == pytest.approx(si * 1e3)
    # unweighted, with scatter: the intercept's error bar covers the truth
    rng = np.random.default_rng(19)
    acc5 = np.linspace(0.02, 0.1, 5)
    amp5 = acc5 * rho / (eta_true * (1 - 2.0 * acc5) * k**2) * (1 + rng.normal(scale=0.01, size=5))
    res5 = viscosity_periodic_perturbation(acc5, amp5, rho, lz)
    assert abs(res5.value - eta_true) < 4 * res5.uncertainty
    assert np.isnan(viscosity_periodic_perturbation(acc5[:3], amp5[:3], rho, lz).uncertainty)


def test_newtonian_mean_of_amplitudes_is_calibrated_and_flags_shear_thinning():
    """Amplitudes A and 2A on a Newtonian fluid: the weighted mean's error bar covers the truth about 68 % of
    the time over 4000 synthetic experiments, and is about 4 times tighter than the linear fit's intercept;
    on a shear-thinning fluid the reported slope lies many errors below zero."""
    eta_true, rho, lz = 0.855, 0.998, 5.98
    k = 2 * np.pi / lz
    acc = np.array([0.03, 0.06])
    rel = np.array([0.05, 0.025])  # relative errors of V, as measured at these A (0.25 ns each)
    rng = np.random.default_rng(23)
    hits, widths, lin_widths, pulls = 0, [], [], []
    for _ in range(4000):
        amp = acc * rho / (eta_true * k**2) * (1 + rel * rng.normal(size=2))
        res = viscosity_periodic_perturbation(acc, amp, rho, lz, amplitude_errors_nm_ps=rel * amp,
                                              extrapolation="newtonian")
        lin = viscosity_periodic_perturbation(acc, amp, rho, lz, amplitude_errors_nm_ps=rel * amp)
        hits += abs(res.value - eta_true) < res.uncertainty
        widths.append(res.uncertainty)
        lin_widths.append(lin.uncertainty)
        pulls.append(res.details["slope"] / res.details["slope_error"])
    assert 0.63 < hits / 4000 < 0.80  # chi^2 scaling widens some bars: coverage at or a little above 68 %
    assert np.median(lin_widths) / np.median(widths) == pytest.approx(4.0, rel=0.15)
    assert np.std(pulls) == pytest.approx(1.0, abs=0.05)  # the slope's error is right for a Newtonian fluid
    assert res.details["extrapolation"] == "newtonian" and res.details["box_z_nm"] == lz
    # shear thinning eta(A) = eta0 (1 - 2 A) with 1 % errors: the slope is 4.7 errors below zero
    amp = acc * rho / (eta_true * (1 - 2.0 * acc) * k**2)
    thin = viscosity_periodic_perturbation(acc, amp, rho, lz, amplitude_errors_nm_ps=0.01 * amp,
                                           extrapolation="newtonian")
    assert thin.details["slope"] / thin.details["slope_error"] < -4
    with pytest.raises(InputError, match="amplitude_errors_nm_ps"):
        viscosity_periodic_perturbation(acc, amp, rho, lz, extrapolation="newtonian")
    with pytest.raises(InputError, match="extrapolation"):
        viscosity_periodic_perturbation(acc, amp, rho, lz, extrapolation="quadratic")


def test_zero_wavenumber_extrapolation_recovers_eta0_and_propagates_errors():
    """eta(k) = eta0 (1 - a k^2) sampled at three L_z gives eta0 and a back; for two L_z the error is the
    exact propagation eta0 = (k1^2 eta2 - k2^2 eta1) / (k1^2 - k2^2)."""
    eta0, a = 0.855, 0.03  # mPa s, nm^2
    lz = np.array([3.99, 5.98, 7.97])
    k2 = (2 * np.pi / lz) ** 2
    eta = eta0 * (1 - a * k2)
    res = viscosity_zero_wavenumber(lz, eta, 0.02 * eta, temperature_k=298.0)
    assert res.value == pytest.approx(eta0, rel=1e-10)
    assert res.details["a_nm2"] == pytest.approx(a, rel=1e-9)
    assert res.unit == "mPa s" and res.n_independent == 3
    err = np.array([0.019, 0.020])
    two = viscosity_zero_wavenumber(lz[:2], eta[:2], err)
    d1, d2 = -k2[1] / (k2[0] - k2[1]), k2[0] / (k2[0] - k2[1])
    assert two.uncertainty == pytest.approx(np.hypot(d1 * err[0], d2 * err[1]), rel=1e-9)
    with pytest.raises(InputError, match="box_z_nm"):
        viscosity_zero_wavenumber([4.0, 4.0], [0.8, 0.81], [0.02, 0.02])
    with pytest.raises(InputError, match="errors_mpa_s"):
        viscosity_zero_wavenumber([4.0, 6.0], [0.8, 0.81], [0.02, -0.02])


def test_velocity_profile_amplitude():
    rng = np.random.default_rng(10)
    lz, v0 = 3.0, 0.05
    z = rng.uniform(0, lz, size=(50, 2000))
    vx = v0 * np.cos(2 * np.pi * z / lz) + rng.normal(scale=0.3, size=z.shape)
    assert velocity_profile_amplitude(z, vx, lz) == pytest.approx(v0, abs=0.006)
