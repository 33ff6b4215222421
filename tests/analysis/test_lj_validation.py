"""Validation against published Lennard-Jones transport coefficients at the triple point.

Reference: Meier, Laesecke & Kabelac, J. Chem. Phys. 121, 3671 (2004) (viscosity 3.258) and 121, 9526
(2004) (self-diffusion 0.0325 for N = 1372). Our data: 8 independent NVE runs of 500 atoms, 800 tau
each, truncated (3.0 sigma) energy-shifted potential (fixtures/analysis/README.md).
"""

import numpy as np
import pytest

from phyneo_flows.analysis.diffusion import YEH_HUMMER_XI, self_diffusion, yeh_hummer
from phyneo_flows.analysis.viscosity import viscosity_green_kubo
from tests.analysis import lj


@pytest.fixture(scope="module")
def data():
    return lj.load()


@pytest.fixture(scope="module")
def eta(data):
    return viscosity_green_kubo(data["pressure_tensors"], data["stress_dt_ps"], data["volume_nm3"],
                                data["temperature_k"])


def test_fixture_is_the_triple_point(data):
    assert data["temperature_reduced"] == pytest.approx(0.722, abs=0.005)
    assert data["n_atoms"] / (data["box_nm"] / lj.SIGMA_NM) ** 3 == pytest.approx(0.8442, rel=1e-6)
    assert np.all(np.abs(data["energy_drift_per_atom"]) < 1e-3)  # NVE conserved energy


def test_viscosity_matches_meier(eta):
    eta_red = eta.value / lj.ETA_MPA_S
    unc_red = eta.uncertainty / lj.ETA_MPA_S
    assert unc_red / eta_red <= 0.05
    assert eta_red == pytest.approx(lj.MEIER_ETA, rel=0.10)


def test_self_diffusion_matches_meier(data, eta):
    d = self_diffusion(data["positions_nm"], data["positions_dt_ps"])["all"]
    assert d.details["diffusive_regime_found"]
    assert d.uncertainty / d.value <= 0.05
    # compare at infinite size: both our N = 500 value and Meier's N = 1372 value corrected by Yeh-Hummer
    d_inf = yeh_hummer(d, eta.value, data["box_nm"], data["temperature_k"],
                       viscosity_uncertainty_mpa_s=eta.uncertainty)
    l_1372 = (1372 / 0.8442) ** (1 / 3)
    meier_inf = lj.MEIER_D_1372 + YEH_HUMMER_XI * 0.722 / (6 * np.pi * lj.MEIER_ETA * l_1372)
    assert d_inf.uncertainty / d_inf.value <= 0.05
    assert d_inf.value / lj.DIFF_NM2_PS == pytest.approx(meier_inf, rel=0.10)
    # and the finite-size value is below the corrected one, by the hydrodynamic amount
    assert d.value < d_inf.value
