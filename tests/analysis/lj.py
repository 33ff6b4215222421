"""Load the Lennard-Jones triple-point fixture in internal units (argon parameters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phyneo_flows.analysis.validation.make_lj_fixture import channels_to_tensor
from phyneo_flows.units import AVOGADRO, BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "analysis" / "lj_triple_point.npz"

# argon-like units; any choice works since results are compared in reduced units
SIGMA_NM, EPS_K, MASS_AMU = 0.3405, 119.8, 39.948
EPS_KJ_MOL = EPS_K * BOLTZMANN_KJ_MOL_K
TAU_PS = SIGMA_NM * np.sqrt(MASS_AMU / EPS_KJ_MOL)  # kJ/mol = amu nm^2 / ps^2
PRESSURE_BAR = EPS_KJ_MOL / SIGMA_NM**3 / BAR_NM3_TO_KJ_MOL
ETA_MPA_S = np.sqrt(MASS_AMU * 1e-3 / AVOGADRO * EPS_K * 1.380649e-23) / (SIGMA_NM * 1e-9) ** 2 * 1e3
DIFF_NM2_PS = SIGMA_NM**2 / TAU_PS

# published values at T* = 0.722, rho* = 0.8442 (Meier, Laesecke & Kabelac, J. Chem. Phys. 121, 3671 and
# 9526 (2004)): shear viscosity; self-diffusion of a 1372-particle system
MEIER_ETA = 3.258
MEIER_D_1372 = 0.0325


def load() -> dict:
    """Fixture arrays converted to internal units (bar, ps, nm, K)."""
    d = np.load(FIXTURE)
    box = float(d["box"])
    t_red = float(d["temperature"].mean())
    return {
        "pressure_tensors": [channels_to_tensor(s.astype(float)) * PRESSURE_BAR for s in d["stress"]],
        "stress_dt_ps": float(d["stress_dt"]) * TAU_PS,
        "positions_nm": [p.astype(float) * SIGMA_NM for p in d["positions"]],
        "positions_dt_ps": float(d["positions_dt"]) * TAU_PS,
        "box_nm": box * SIGMA_NM,
        "volume_nm3": (box * SIGMA_NM) ** 3,
        "temperature_k": t_red * EPS_K,
        "temperature_reduced": t_red,
        "n_atoms": int(d["n_atoms"]),
        "temperatures_reduced": d["temperature"],
        "energy_drift_per_atom": d["energy_drift_per_atom"],
    }
