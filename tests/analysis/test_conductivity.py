"""Conductivity of independent Brownian ions: Einstein-Helfand equals Nernst-Einstein (Haven ratio 1),
and both equal the analytic e^2 / (V k_B T) sum N z^2 D."""

import numpy as np
import pytest

from phyneo_flows.analysis.conductivity import einstein_helfand, haven_ratio, nernst_einstein
from phyneo_flows.analysis.diffusion import self_diffusion
from tests.analysis.synthetic import brownian


def test_brownian_ions():
    rng = np.random.default_rng(14)
    dt, vol, temp = 1.0, 125.0, 300.0
    n_ion = 40
    d_plus, d_minus = 0.02, 0.01
    runs = []
    for _ in range(40):
        runs.append(np.concatenate([brownian(400, n_ion, dt, d_plus, rng),
                                    brownian(400, n_ion, dt, d_minus, rng)], axis=1))
    charges = np.array([1.0] * n_ion + [-1.0] * n_ion)
    eh = einstein_helfand(runs, charges, dt, vol, temp, fit_window_ps=(20.0, 120.0))
    # analytic: sigma = e^2 / (V kT) * sum N D, SI
    e, kt = 1.602176634e-19, 1.380649e-23 * temp
    exact_s_m = e**2 / (vol * 1e-27 * kt) * n_ion * (d_plus + d_minus) * 1e-6
    exact = exact_s_m * 10.0  # mS/cm
    assert eh.unit == "mS/cm"
    assert abs(eh.value - exact) < 3 * eh.uncertainty
    labels = ["Li"] * n_ion + ["A"] * n_ion
    diff = self_diffusion(runs, dt, labels, fit_window_ps=(20.0, 120.0), remove_com=False)
    ne = nernst_einstein({"Li": (n_ion, 1.0, diff["Li"]), "A": (n_ion, -1.0, diff["A"])}, vol, temp)
    assert ne.value == pytest.approx(exact, rel=0.05)
    h = haven_ratio(ne, eh)
    assert abs(h.value - 1.0) < 3 * h.uncertainty


def test_paired_ions_do_not_conduct():
    # each cation moves together with an anion: the dipole stays constant, sigma_EH ~ 0, H >> 1
    rng = np.random.default_rng(15)
    runs = []
    for _ in range(10):
        a = brownian(300, 20, 1.0, 0.02, rng)
        runs.append(np.concatenate([a, a + 0.3], axis=1))
    charges = np.array([1.0] * 20 + [-1.0] * 20)
    eh = einstein_helfand(runs, charges, 1.0, 125.0, 300.0, fit_window_ps=(10.0, 80.0))
    assert abs(eh.value) < 1e-9
