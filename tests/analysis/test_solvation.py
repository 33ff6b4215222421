"""RDFs and coordination numbers on structures with exact answers: an ideal gas and an fcc crystal."""

import numpy as np
import pytest

from phyneo_flows.analysis.solvation import coordination_numbers, first_minimum, ion_pairing, rdf
from phyneo_flows.analysis.validation.lj_md import fcc_lattice


def test_ideal_gas_rdf_is_one():
    rng = np.random.default_rng(16)
    box = np.array([4.0, 4.0, 4.0])
    x = rng.uniform(0, 4.0, size=(20, 400, 3))
    r, g, n = rdf(x, box, np.arange(400), np.arange(400), n_bins=40)
    assert np.mean(g[10:]) == pytest.approx(1.0, abs=0.01)
    rho = 399 / 64.0
    i = 30
    assert n[i] == pytest.approx(4 / 3 * np.pi * (r[i] + 0.5 * (r[1] - r[0])) ** 3 * rho, rel=0.03)


def test_fcc_first_shell_has_twelve_neighbours():
    pos, box = fcc_lattice(4, 1.0)
    rng = np.random.default_rng(17)
    x = pos[None] + rng.normal(scale=0.03, size=(5,) + pos.shape)
    cn = coordination_numbers(x, np.array([box] * 3), np.arange(0, 256, 7), {"all": np.arange(256)})
    res = cn["all"]
    a = box / 4
    assert a / np.sqrt(2) < res.details["r_cut_nm"] < a  # between first (a/sqrt2) and second (a) shells
    assert res.value == pytest.approx(12.0, abs=1e-9)


def test_first_minimum_of_a_model_rdf():
    r = np.linspace(0.01, 1.0, 500)
    g = 1 + 2 * np.exp(-((r - 0.2) / 0.03) ** 2) - 0.6 * np.exp(-((r - 0.32) / 0.04) ** 2)
    assert first_minimum(r, g, smooth=1) == pytest.approx(0.32, abs=0.01)


def test_contact_ion_pairs():
    # 3 cations; anion 0 (two sites) touches cation 0 only, anion 1 touches cations 1 and 2? no: only 1
    box = np.array([10.0, 10.0, 10.0])
    cations = np.array([[1.0, 1, 1], [5.0, 5, 5], [8.0, 2, 2]])
    sites = np.array([[1.2, 1, 1], [1.0, 1.25, 1], [5.0, 5.2, 5], [5.0, 4.8, 5]])
    x = np.concatenate([cations, sites])[None].repeat(10, axis=0)
    res = ion_pairing(x, box, [0, 1, 2], [3, 4, 5, 6], [0, 0, 1, 2], r_cut=0.3)
    assert res.value == pytest.approx(2 / 3)
    assert res.details["cip"] == pytest.approx(1 / 3)
    assert res.details["agg"] == pytest.approx(1 / 3)  # cation 1 touches anions 1 and 2
    assert res.details["free_or_ssip"] == pytest.approx(1 / 3)
