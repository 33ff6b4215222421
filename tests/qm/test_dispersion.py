"""C6 coefficients: molecular C6 from per-atom values (geometric-mean combination, as the force field
uses them) against dipole-oscillator-strength distribution (DOSD) reference values, and free-ion values
against accurate atomic theory."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.qm.dispersion import (
    dftd4_properties,
    free_ion_dispersion,
    higher_order,
    molecular_c6,
    q_factor,
)
from phyneo_flows.qm.models import QMMolecule
from phyneo_flows.qm.properties import FREE_IONS
from phyneo_flows.units import BOHR_TO_ANGSTROM

# Isotropic C6 (hartree bohr^6) from DOSD: water 45.29 (Zeiss & Meath, Mol. Phys. 33, 1155 (1977)),
# methane 129.6 and ammonia 89.03 (Zeiss & Meath; Margoliash & Meath, J. Chem. Phys. 68, 1426 (1978)).
DOSD_C6 = {"water": 45.29, "methane": 129.6, "ammonia": 89.03}
GEOMETRIES = {
    "water": "O 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692",
    "methane": "C 0 0 0\nH 0.629 0.629 0.629\nH -0.629 -0.629 0.629\nH -0.629 0.629 -0.629\nH 0.629 -0.629 -0.629",
    "ammonia": "N 0 0 0.1128\nH 0 0.9377 -0.2631\nH 0.8121 -0.4689 -0.2631\nH -0.8121 -0.4689 -0.2631",
}


@pytest.mark.parametrize("name", sorted(DOSD_C6))
def test_molecular_c6_within_15_percent_of_dosd(name):
    xyz = GEOMETRIES[name]
    molecule = QMMolecule.from_xyz(f"{len(xyz.splitlines())}\n{name}\n{xyz}\n")
    d4 = dftd4_properties(molecule.atomic_numbers, molecule.coordinates_angstrom / BOHR_TO_ANGSTROM)
    per_atom = np.diag(d4["c6"])
    assert molecular_c6(per_atom) == pytest.approx(DOSD_C6[name], rel=0.15)
    assert d4["c6"].sum() == pytest.approx(DOSD_C6[name], rel=0.15)


def test_c8_c10_recursion():
    c6 = np.array([10.0])
    q = np.array([q_factor(8)])
    c8, c10 = higher_order(c6, q)
    assert c8[0] == pytest.approx(3 * 10.0 * 0.5 * np.sqrt(8) * 4.7566)
    assert c10[0] == pytest.approx(49 / 40 * c8[0] ** 2 / 10.0)


def test_free_li_ion_polarisability_near_exact_value():
    """Li+ static polarisability 0.1925 bohr^3 (Hylleraas-basis value tabulated by Mitroy, Safronova and
    Clark, J. Phys. B 43, 202001 (2010)); our HF/RPA value lacks correlation, so allow 3 %."""
    assert FREE_IONS[("Li", 1)]["alpha"] == pytest.approx(0.1925, rel=0.03)
    # D4's Li+ is not usable (over 100 bohr^3): the reason ions get their own values
    d4 = dftd4_properties([3], np.zeros((1, 3)), charge=1.0)
    assert d4["alpha"][0] > 10 * FREE_IONS[("Li", 1)]["alpha"]


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["Li", "Na"])
def test_free_ion_table_is_reproduced(symbol):
    fresh = free_ion_dispersion(symbol, 1)
    for key, value in FREE_IONS[(symbol, 1)].items():
        assert fresh[key] == pytest.approx(value, rel=1e-4)
