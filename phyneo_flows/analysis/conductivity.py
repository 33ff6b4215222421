"""Ionic conductivity: Einstein-Helfand from the collective translational dipole, Nernst-Einstein from
self-diffusion, and their ratio (the Haven ratio).

Einstein-Helfand: sigma = lim (1 / (6 V k_B T)) d/dt < |M(t) - M(0)|^2 >, M(t) = sum_i q_i r_i(t) over
ions, each molecular ion at its centre of charge (so all self and cross terms are included and
intramolecular charge motion is not). Nernst-Einstein: sigma_NE = (e^2 / (V k_B T)) sum_s N_s z_s^2 D_s.
Haven ratio H = sigma_NE / sigma_EH.

Units: positions nm, time ps, charges e, volume nm^3, temperature K; conductivity in mS/cm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from phyneo_flows.analysis.diffusion import _segments, einstein_slope
from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.errors import InputError
from phyneo_flows.units import AVOGADRO, BOLTZMANN_KJ_MOL_K

ELEMENTARY_CHARGE_C = 1.602176634e-19
# e^2 nm^2/ps / (nm^3 J) -> S/m -> mS/cm: e^2 * 1e-6 m^2/s / (1e-27 m^3 J) = e^2 1e21 S/m; 1 S/m = 10 mS/cm
_TO_MS_CM = ELEMENTARY_CHARGE_C**2 * 1e21 * 10.0


def _kt_joule(temperature_k: float) -> float:
    if not np.isfinite(temperature_k) or temperature_k <= 0:
        raise InputError(f"must be positive, got {temperature_k}", field="temperature_k")
    return BOLTZMANN_KJ_MOL_K * temperature_k * 1e3 / AVOGADRO


def einstein_helfand(
    ion_positions: np.ndarray | Sequence[np.ndarray],
    charges: Sequence[float],
    dt_ps: float,
    volume_nm3: float,
    temperature_k: float,
    *,
    fit_window_ps: tuple[float, float] | None = None,
    n_blocks: int = 5,
    end_fraction: float = 0.3,
    tol: float = 0.15,
    trajectory: str | None = None,
) -> PropertyResult:
    """Einstein-Helfand conductivity (mS/cm) from unwrapped ion centres (frames, ions, 3) in nm.

    ``charges`` are the net ion charges (e). Independent estimates come from runs (3 or more) or from
    ``n_blocks`` time blocks; the error bar is their standard error.
    """
    q = np.asarray(charges, dtype=float)
    if not np.isfinite(volume_nm3) or volume_nm3 <= 0:
        raise InputError(f"must be positive, got {volume_nm3}", field="volume_nm3")
    kt = _kt_joule(temperature_k)
    segs = _segments(ion_positions, n_blocks)
    if q.shape != (segs[0].shape[1],):
        raise InputError(f"need one charge per ion ({segs[0].shape[1]}), got {q.shape}", field="charges")
    dipoles = [np.einsum("tia,i->ta", s, q)[:, None, :] for s in segs]  # (frames, 1, 3)
    res = einstein_slope(dipoles, float(dt_ps), fit_window_ps=fit_window_ps, end_fraction=end_fraction,
                         tol=tol)
    sig = res["slopes"] / (6.0 * volume_nm3 * kt) * _TO_MS_CM
    t = res["t"]
    return PropertyResult(
        name="conductivity:einstein_helfand", value=float(sig.mean()),
        uncertainty=float(sig.std(ddof=1) / np.sqrt(sig.size)), unit="mS/cm",
        method="Einstein-Helfand, collective translational dipole of ion centres (all cross terms), "
               "FFT MSD; error: standard error over runs/blocks",
        fit_window=(float(t[res["i0"]]), float(t[res["i1"]])), n_samples=int(sum(s.shape[0] for s in segs)),
        n_independent=int(sig.size), trajectory=trajectory, temperature_k=float(temperature_k),
        details={"sigma_each": sig.tolist(), "diffusive_regime_found": bool(res["diffusive"])})


def nernst_einstein(
    species: Mapping[str, tuple[int, float, PropertyResult]],
    volume_nm3: float,
    temperature_k: float,
) -> PropertyResult:
    """Nernst-Einstein conductivity (mS/cm) from {name: (count, charge in e, self-diffusion result)}.

    Diffusion coefficients in nm^2/ps; their errors are propagated (independent).
    """
    if not np.isfinite(volume_nm3) or volume_nm3 <= 0:
        raise InputError(f"must be positive, got {volume_nm3}", field="volume_nm3")
    kt = _kt_joule(temperature_k)
    total = 0.0
    var = 0.0
    for name, (count, charge, d) in species.items():
        if d.unit != "nm^2/ps":
            raise InputError(f"diffusion of {name} is in {d.unit}", field="species", fix="give nm^2/ps")
        w = count * charge**2 / (volume_nm3 * kt) * _TO_MS_CM
        total += w * d.value
        var += (w * d.uncertainty) ** 2
    return PropertyResult(
        name="conductivity:nernst_einstein", value=float(total), uncertainty=float(np.sqrt(var)),
        unit="mS/cm", method="Nernst-Einstein from self-diffusion (no cross correlations)",
        n_samples=int(sum(d.n_samples for _, _, d in species.values())), temperature_k=float(temperature_k),
        details={name: {"count": c, "charge": q, "d_nm2_ps": d.value} for name, (c, q, d) in species.items()})


def haven_ratio(sigma_ne: PropertyResult, sigma_eh: PropertyResult) -> PropertyResult:
    """H = sigma_NE / sigma_EH with first-order error propagation."""
    if sigma_eh.value == 0:
        raise InputError("Einstein-Helfand conductivity is zero", field="sigma_eh")
    h = sigma_ne.value / sigma_eh.value
    rel = np.hypot(sigma_ne.uncertainty / sigma_ne.value if sigma_ne.value else 0.0,
                   sigma_eh.uncertainty / sigma_eh.value)
    return PropertyResult(
        name="haven_ratio", value=float(h), uncertainty=float(abs(h) * rel), unit="1",
        method="sigma_NE / sigma_EH", n_samples=sigma_eh.n_samples, temperature_k=sigma_eh.temperature_k,
        details={"sigma_ne_mS_cm": sigma_ne.value, "sigma_eh_mS_cm": sigma_eh.value})
