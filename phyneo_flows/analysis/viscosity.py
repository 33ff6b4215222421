"""Shear viscosity: Green-Kubo from the pressure tensor with the time-decomposition method, and the
periodic-perturbation (cosine acceleration) estimator.

Green-Kubo uses all independent components of the traceless symmetric pressure tensor P0 (three
off-diagonal ones and the normal-stress differences, Daivis & Evans, J. Chem. Phys. 100, 541 (1994)):

    eta = V / (10 k_B T) int_0^inf sum_ab <P0_ab(0) P0_ab(t)> dt

each autocorrelation averaged over all time origins (FFT). Several independent runs are combined by the
time-decomposition method of Zhang, Otani & Maginn, J. Chem. Theory Comput. 11, 3537 (2015): the
standard deviation sigma(t) of the running integrals over runs is fitted to A t^b, the integration is
cut where sigma(t) exceeds 40 % of the mean, and the mean running integral up to there is fitted to a
double exponential weighted by t^-b, whose limit is the viscosity. Its 1-sigma error comes from
resampling the runs (bootstrap).

Units: pressure in bar, time in ps, volume in nm^3, temperature in K; viscosity in mPa s.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import integrate, optimize

from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.statistics import cross_correlation
from phyneo_flows.errors import InputError
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K

# V P^2 t / kT with V in nm^3, P in bar, t in ps, kT in kJ/mol -> mPa s
# (bar nm^3 / (kJ/mol)) * (bar ps) = BAR_NM3_TO_KJ_MOL * 1e5 Pa * 1e-12 s * 1e3 mPa/Pa
_GK_TO_MPA_S = BAR_NM3_TO_KJ_MOL * 1e-4

# acceleration nm/ps^2 * density g/cm^3 / (velocity nm/ps * k^2 1/nm^2) -> mPa s
# (1e15 m/s^2)(1e3 kg/m^3) / ((1e3 m/s)(1e18 1/m^2)) = 1e-3 Pa s = 1 mPa s
_PP_TO_MPA_S = 1.0


def _check_positive(value: float, field: str, unit: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"must be a positive number of {unit}, got {value}", field=field)
    return v


def check_pressure_tensor(p: np.ndarray, *, field: str = "pressure_tensor", min_samples: int = 16) -> np.ndarray:
    """A finite float array of shape (samples, 3, 3), or InputError naming ``field``."""
    a = np.asarray(p, dtype=float)
    if a.ndim != 3 or a.shape[1:] != (3, 3):
        raise InputError(f"expected shape (samples, 3, 3), got {a.shape}", field=field,
                         fix="save the pressure tensor as an array of 3x3 matrices, one per sample")
    if a.shape[0] < min_samples:
        raise InputError(f"need at least {min_samples} samples, got {a.shape[0]}", field=field)
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.all(np.isfinite(a), axis=(1, 2))))
        raise InputError(f"{bad} samples contain NaN or inf", field=field, fix="drop the broken frames")
    return a


def traceless_components(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(samples, 3, 3) -> (samples, 6) components of the symmetrised traceless tensor and their weights.

    Components: xy, xz, yz, xx0, yy0, zz0; weights 2/10 for the off-diagonal ones (each appears twice
    in the double sum) and 1/10 for the diagonal ones, so that sum_i w_i <c_i(0) c_i(t)> integrates to
    eta k_B T / V.
    """
    s = 0.5 * (p + np.swapaxes(p, 1, 2))
    tr = np.trace(s, axis1=1, axis2=2) / 3.0
    comps = np.stack([s[:, 0, 1], s[:, 0, 2], s[:, 1, 2], s[:, 0, 0] - tr, s[:, 1, 1] - tr, s[:, 2, 2] - tr],
                     axis=1)
    weights = np.array([0.2, 0.2, 0.2, 0.1, 0.1, 0.1])
    return comps, weights


def green_kubo_running_integral(pressure_tensor: np.ndarray, dt_ps: float, volume_nm3: float,
                                temperature_k: float, *, max_lag: int | None = None
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Running Green-Kubo integral eta(t) in mPa s of one run; returns (times_ps, eta_mpa_s).

    The autocorrelations average over all time origins; the integral is the trapezoid rule, which is
    exact for block-averaged samples (see :mod:`phyneo_flows.analysis.validation.lj_md`).
    """
    p = check_pressure_tensor(pressure_tensor)
    dt = _check_positive(dt_ps, "dt_ps", "ps")
    vol = _check_positive(volume_nm3, "volume_nm3", "nm^3")
    temp = _check_positive(temperature_k, "temperature_k", "K")
    comps, w = traceless_components(p)
    # the traceless stress averages to zero at equilibrium: no mean is subtracted, because removing the
    # sample mean biases the long-time integral by about -2 eta t / t_run
    acf = cross_correlation(comps, comps, max_lag=max_lag) @ w
    kt = BOLTZMANN_KJ_MOL_K * temp
    eta = integrate.cumulative_trapezoid(acf, dx=dt, initial=0.0) * vol / kt * _GK_TO_MPA_S
    return np.arange(eta.size) * dt, eta


def _double_exp(t: np.ndarray, a: float, alpha: float, tau1: float, tau2: float) -> np.ndarray:
    return a * alpha * tau1 * (1.0 - np.exp(-t / tau1)) + a * (1.0 - alpha) * tau2 * (1.0 - np.exp(-t / tau2))


def _fit_double_exp(t: np.ndarray, y: np.ndarray, sigma: np.ndarray, p0: np.ndarray | None = None) -> np.ndarray:
    if p0 is None:
        plateau = max(float(np.mean(y[-max(1, y.size // 5):])), 1e-12)
        tau1 = max(t[-1] / 50.0, t[1] if t.size > 1 else t[0])
        tau2 = max(t[-1] / 5.0, 2 * tau1)
        p0 = np.array([plateau / (0.5 * tau1 + 0.5 * tau2), 0.5, tau1, min(tau2, 0.99 * t[-1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        popt, _ = optimize.curve_fit(
            _double_exp, t, y, p0=p0, sigma=sigma, maxfev=20000,
            bounds=([0.0, 0.0, 1e-9, 1e-9], [np.inf, 1.0, t[-1], t[-1]]))
    return popt


def _as_runs(pressure_tensors: np.ndarray | Sequence[np.ndarray], n_segments: int | None,
             min_segments: int = 64, min_segment_samples: int = 256) -> list[np.ndarray]:
    """Independent runs cut into segments (the 'time decomposition' into many short trajectories).

    ``n_segments`` pieces per run, or by default enough that there are ``min_segments`` in all, none
    shorter than ``min_segment_samples``.
    """
    if isinstance(pressure_tensors, np.ndarray) and pressure_tensors.ndim == 4:
        runs = [pressure_tensors[i] for i in range(pressure_tensors.shape[0])]
    elif isinstance(pressure_tensors, np.ndarray) or (
            isinstance(pressure_tensors, Sequence) and len(pressure_tensors) > 0
            and np.ndim(pressure_tensors[0]) == 2):
        runs = [np.asarray(pressure_tensors)]
    else:
        runs = list(pressure_tensors)
    runs = [check_pressure_tensor(r, field=f"pressure_tensor[{i}]") for i, r in enumerate(runs)]
    n_short = min(r.shape[0] for r in runs)
    if n_segments is None:
        per_run = int(np.ceil(min_segments / len(runs)))
        per_run = max(1, min(per_run, n_short // min_segment_samples))
    else:
        per_run = int(n_segments)
        if per_run < 1:
            raise InputError("n_segments must be at least 1", field="n_segments")
    seg = n_short // per_run
    if seg < 32:
        raise InputError(f"the series ({n_short} samples) is too short to cut into {per_run} segments",
                         field="n_segments", fix="give a longer series, several runs, or fewer segments")
    out = [r[i * seg:(i + 1) * seg] for r in runs for i in range(per_run)]
    if len(out) < 2:
        raise InputError("the time-decomposition method needs at least two runs or segments",
                         field="pressure_tensor", fix="give a longer series or several runs")
    return out


def viscosity_green_kubo(
    pressure_tensors: np.ndarray | Sequence[np.ndarray],
    dt_ps: float,
    volume_nm3: float,
    temperature_k: float,
    *,
    max_time_ps: float | None = None,
    std_cutoff: float = 0.4,
    n_segments: int | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    trajectory: str | None = None,
) -> PropertyResult:
    """Viscosity (mPa s) from pressure tensors (bar) by Green-Kubo and time decomposition.

    ``pressure_tensors`` is one run (samples, 3, 3), several runs (runs, samples, 3, 3) or a list of runs
    of different lengths (runs are cut to the shortest). As in the method's name, the trajectories are
    decomposed in time: each run is cut into ``n_segments`` pieces that play the role of independent
    short runs (default: enough for 64 in all, each at least 256 samples). Too few, too long segments
    push the 40 % cut deep into the noisy tail; segments must still be much longer than the stress
    relaxation time. ``max_time_ps`` caps the correlation time considered (default: half a segment).
    """
    runs = _as_runs(pressure_tensors, n_segments)
    dt = _check_positive(dt_ps, "dt_ps", "ps")
    n_min = min(r.shape[0] for r in runs)
    max_lag = n_min // 2 if max_time_ps is None else min(n_min - 1, int(round(max_time_ps / dt)))
    if max_lag < 8:
        raise InputError("max_time_ps covers fewer than 8 samples", field="max_time_ps")
    curves = np.array([green_kubo_running_integral(r, dt, volume_nm3, temperature_k, max_lag=max_lag)[1]
                       for r in runs])
    t = np.arange(max_lag + 1) * dt
    n_runs = len(runs)
    mean = curves.mean(axis=0)
    std = curves.std(axis=0, ddof=1)

    # sigma(t) = A t^b, fitted in log-log on t > 0 where sigma > 0
    ok = (t > 0) & (std > 0)
    b, log_a = np.polyfit(np.log(t[ok]), np.log(std[ok]), 1)
    # cut where the spread exceeds std_cutoff of the mean (after the first maximum of the mean)
    start = int(np.argmax(mean[: max(2, max_lag // 10)]))
    ratio = np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), np.inf)
    above = np.nonzero(ratio[start + 1:] > std_cutoff)[0]
    i_cut = start + 1 + int(above[0]) if above.size else max_lag
    i_cut = max(i_cut, min(max_lag, 8))
    # fit on (at most) 400 log-spaced lags: same curve, far cheaper bootstrap
    sel = np.unique(np.geomspace(1, i_cut, min(400, i_cut)).astype(int))
    weights_sigma = t[sel] ** b
    popt = _fit_double_exp(t[sel], mean[sel], weights_sigma)
    eta = float(popt[0] * popt[1] * popt[2] + popt[0] * (1.0 - popt[1]) * popt[3])

    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, n_runs, n_runs)
        m = curves[pick].mean(axis=0)
        try:
            pb = _fit_double_exp(t[sel], m[sel], weights_sigma, p0=popt)
        except RuntimeError:
            continue
        boots.append(pb[0] * pb[1] * pb[2] + pb[0] * (1.0 - pb[1]) * pb[3])
    boots = np.asarray(boots)
    # robust spread (16th-84th percentile half width), corrected for the small-sample bootstrap bias
    if boots.size > 2:
        lo, hi = np.percentile(boots, [15.865, 84.135])
        unc = float(0.5 * (hi - lo) * np.sqrt(n_runs / (n_runs - 1)))
    else:
        unc = float("nan")
    plateau_sel = slice(max(1, i_cut // 2), i_cut + 1)
    return PropertyResult(
        name="viscosity", value=eta, uncertainty=unc, unit="mPa s",
        method=("Green-Kubo, traceless pressure tensor (5 independent components), FFT multiple origins; "
                "time decomposition (Zhang, Otani, Maginn 2015); error: bootstrap over runs (16-84 % width)"),
        fit_window=(float(t[1]), float(t[i_cut])), n_samples=int(sum(r.shape[0] for r in runs)),
        n_independent=n_runs, trajectory=trajectory, temperature_k=float(temperature_k),
        details={
            "sigma_fit_A": float(np.exp(log_a)), "sigma_fit_b": float(b), "t_cut_ps": float(t[i_cut]),
            "double_exp": {"A": float(popt[0]), "alpha": float(popt[1]), "tau1_ps": float(popt[2]),
                           "tau2_ps": float(popt[3])},
            "plateau_mean_mpa_s": float(mean[plateau_sel].mean()),
            "std_at_cut_mpa_s": float(std[i_cut]),
            "n_bootstrap": int(boots.size),
            "segment_ps": float(n_min * dt),
            "cut_at_longest_lag": bool(i_cut >= max_lag),
        })


def green_kubo_curves(pressure_tensors: np.ndarray | Sequence[np.ndarray], dt_ps: float, volume_nm3: float,
                      temperature_k: float, *, max_lag: int | None = None, n_segments: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Running integrals of every run (or segment): (times_ps, curves (runs, lags)) in mPa s."""
    runs = _as_runs(pressure_tensors, n_segments)
    n_min = min(r.shape[0] for r in runs)
    lag = n_min // 2 if max_lag is None else min(max_lag, n_min - 1)
    curves = np.array([green_kubo_running_integral(r, dt_ps, volume_nm3, temperature_k, max_lag=lag)[1]
                       for r in runs])
    return np.arange(lag + 1) * float(dt_ps), curves


def velocity_profile_amplitude(z_nm: np.ndarray, vx_nm_ps: np.ndarray, box_z_nm: float,
                               masses: np.ndarray | None = None) -> float:
    """Amplitude V (nm/ps) of v_x(z) = V cos(2 pi z / L_z): V = 2 sum m v_x cos(kz) / sum m.

    ``z_nm`` and ``vx_nm_ps`` are (frames, atoms) or (atoms,); the average runs over all of them.
    """
    lz = _check_positive(box_z_nm, "box_z_nm", "nm")
    z = np.asarray(z_nm, dtype=float)
    vx = np.asarray(vx_nm_ps, dtype=float)
    if z.shape != vx.shape:
        raise InputError(f"z and vx shapes differ: {z.shape} vs {vx.shape}", field="vx_nm_ps")
    m = np.ones(z.shape[-1]) if masses is None else np.asarray(masses, dtype=float)
    m = np.broadcast_to(m, z.shape)
    k = 2.0 * np.pi / lz
    return float(2.0 * np.sum(m * vx * np.cos(k * z)) / np.sum(m))


def viscosity_periodic_perturbation(
    accelerations_nm_ps2: Sequence[float],
    amplitudes_nm_ps: Sequence[float],
    density_g_cm3: float,
    box_z_nm: float,
    *,
    amplitude_errors_nm_ps: Sequence[float] | None = None,
    temperature_k: float | None = None,
    n_samples: int = 0,
    trajectory: str | None = None,
    extrapolation: str = "linear",
) -> PropertyResult:
    """Viscosity (mPa s) from cosine-acceleration runs, extrapolated to zero amplitude.

    Each run applies a_x(z) = A cos(2 pi z / L_z) and measures the steady velocity-profile amplitude V;
    eta(A) = A rho / (V k^2) with k = 2 pi / L_z (Hess, J. Chem. Phys. 116, 209 (2002)).

    ``extrapolation="linear"``: eta(A) is fitted linearly in A (weighted by the propagated errors of V when
    given) and the intercept at A = 0 is the Newtonian viscosity. ``"newtonian"``: the amplitudes are all
    taken to be in the linear-response range and the error-weighted mean of eta(A) is returned, its error
    scaled up by sqrt(chi^2 / dof) when the values scatter more than their errors (needs the errors); the
    linear fit's slope and its error stay in ``details`` (``slope``, ``slope_error``) so that shear thinning
    can be checked (a slope several errors below zero means the amplitudes are too large for this mode). The
    linear fit's intercept carries several times the error of the mean (about 4 times for two amplitudes
    A and 2A), which is why a long run at a few small A is cheaper with ``"newtonian"`` once thinning is
    excluded. With one acceleration the single value is returned either way.
    """
    if extrapolation not in ("linear", "newtonian"):
        raise InputError(f"unknown extrapolation {extrapolation!r}", field="extrapolation",
                         fix="use 'linear' (fit eta(A) to A = 0) or 'newtonian' (weighted mean of eta(A))")
    acc = np.asarray(accelerations_nm_ps2, dtype=float)
    amp = np.asarray(amplitudes_nm_ps, dtype=float)
    if acc.ndim != 1 or acc.shape != amp.shape or acc.size == 0:
        raise InputError("accelerations and amplitudes must be 1-D of the same length",
                         field="amplitudes_nm_ps")
    if np.any(acc <= 0) or np.any(amp <= 0) or not np.all(np.isfinite(amp)):
        raise InputError("accelerations and amplitudes must be positive and finite",
                         field="amplitudes_nm_ps", fix="check the sign convention of the profile fit")
    rho = _check_positive(density_g_cm3, "density_g_cm3", "g/cm^3")
    lz = _check_positive(box_z_nm, "box_z_nm", "nm")
    k = 2.0 * np.pi / lz
    eta = acc * rho / (amp * k**2) * _PP_TO_MPA_S
    if amplitude_errors_nm_ps is not None:
        eta_err = eta * np.asarray(amplitude_errors_nm_ps, dtype=float) / amp
    else:
        eta_err = None
    slope_err = float("nan")
    if acc.size == 1:
        value = float(eta[0])
        unc = float(eta_err[0]) if eta_err is not None else float("nan")
        method = "periodic perturbation, single amplitude (no extrapolation)"
        slope = 0.0
    else:
        if eta_err is not None:
            (slope, intercept), cov = np.polyfit(acc, eta, 1, w=1.0 / eta_err, cov="unscaled")
        elif extrapolation == "newtonian":
            raise InputError("the Newtonian mean of eta(A) needs the errors of the amplitudes",
                             field="amplitude_errors_nm_ps", fix="pass the blocking errors of V")
        elif acc.size > 3:
            (slope, intercept), cov = np.polyfit(acc, eta, 1, cov=True)
        else:  # too few points to estimate the scatter
            (slope, intercept), cov = np.polyfit(acc, eta, 1), np.full((2, 2), np.nan)
        slope, slope_err = float(slope), float(np.sqrt(cov[0, 0]))
        if extrapolation == "newtonian":
            w = eta_err**-2.0
            value = float(np.sum(w * eta) / np.sum(w))
            chi2_dof = float(np.sum(w * (eta - value) ** 2) / (acc.size - 1))
            unc = float(np.sqrt(1.0 / np.sum(w)) * max(1.0, np.sqrt(chi2_dof)))
            method = ("periodic perturbation (cosine acceleration), error-weighted mean of eta(A) over amplitudes "
                      "in the linear-response range")
        else:
            value = float(intercept)
            unc = float(np.sqrt(cov[1, 1]))
            method = "periodic perturbation (cosine acceleration), linear extrapolation of eta(A) to A = 0"
    return PropertyResult(
        name="viscosity", value=value, uncertainty=unc, unit="mPa s", method=method,
        fit_window=None, n_samples=int(n_samples), n_independent=int(acc.size), trajectory=trajectory,
        temperature_k=temperature_k,
        details={"accelerations_nm_ps2": acc.tolist(), "eta_each_mpa_s": eta.tolist(), "slope": slope,
                 "slope_error": slope_err, "box_z_nm": lz, "extrapolation": extrapolation})


def viscosity_zero_wavenumber(
    box_z_nm: Sequence[float],
    viscosities_mpa_s: Sequence[float],
    errors_mpa_s: Sequence[float],
    *,
    temperature_k: float | None = None,
    trajectory: str | None = None,
) -> PropertyResult:
    """Macroscopic viscosity (mPa s) from periodic-perturbation viscosities at several box lengths L_z.

    The cosine profile probes the transverse-momentum viscosity at k = 2 pi / L_z, which falls below the
    macroscopic one as eta(k) = eta_0 (1 - a k^2) at small k (Palmer, Phys. Rev. E 49, 359 (1994); Hess,
    J. Chem. Phys. 116, 209 (2002)). A weighted straight line in k^2 through eta(L_z) gives eta_0 (its
    intercept) and its 1-sigma error from the propagated errors (for two box lengths the line passes through
    both points and the error is exact propagation). ``details["a_nm2"]`` is the fitted a.
    """
    lz = np.asarray(box_z_nm, dtype=float)
    eta = np.asarray(viscosities_mpa_s, dtype=float)
    err = np.asarray(errors_mpa_s, dtype=float)
    if lz.ndim != 1 or lz.shape != eta.shape or lz.shape != err.shape:
        raise InputError("box lengths, viscosities and errors must be 1-D of the same length",
                         field="viscosities_mpa_s")
    if np.unique(np.round(lz, 9)).size < 2:
        raise InputError(f"the k -> 0 extrapolation needs at least two different L_z, got {lz.tolist()}",
                         field="box_z_nm", fix="run the periodic perturbation in a second, longer box")
    for name, arr in (("box_z_nm", lz), ("viscosities_mpa_s", eta), ("errors_mpa_s", err)):
        if np.any(arr <= 0) or not np.all(np.isfinite(arr)):
            raise InputError(f"{name} must be positive and finite, got {arr.tolist()}", field=name)
    k2 = (2.0 * np.pi / lz) ** 2
    (slope, value), cov = np.polyfit(k2, eta, 1, w=1.0 / err, cov="unscaled")
    return PropertyResult(
        name="viscosity", value=float(value), uncertainty=float(np.sqrt(cov[1, 1])), unit="mPa s",
        method="periodic perturbation extrapolated to k = 0 (eta linear in k^2 over box lengths)",
        fit_window=None, n_samples=0, n_independent=int(lz.size), trajectory=trajectory,
        temperature_k=temperature_k,
        details={"box_z_nm": lz.tolist(), "k2_nm_2": k2.tolist(), "eta_each_mpa_s": eta.tolist(),
                 "eta_each_errors_mpa_s": err.tolist(), "a_nm2": float(-slope / value)})
