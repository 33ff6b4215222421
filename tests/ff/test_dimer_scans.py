"""The shipped literature-like parameters give a repulsive wall and a physically placed minimum.

References (published, not computed here): Li+...O(carbonyl) contact distance 0.19-0.21 nm (first peak of
the Li-O radial distribution in EC-based electrolytes, neutron diffraction and ab initio MD, e.g. Borodin &
Smith, J. Phys. Chem. B 113, 1763 (2009)); gas-phase Li+-EC binding energy about 190-210 kJ/mol (MP2/DFT,
e.g. Wang & Balbuena, J. Phys. Chem. A 105, 9972 (2001)). The windows below are wide because no value in
the fixture is a fit.
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.ff.model import ForceField
from phyneo_flows.ff.params import SLATER_COMPONENTS, SLATER_SIGNS, load_params

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc"
R = np.array([0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.17, 0.18, 0.19, 0.20, 0.21, 0.22, 0.24, 0.27, 0.30])


@pytest.fixture(scope="module")
def params():
    return load_params(FIXTURE)


def test_net_slater_term_is_repulsive_for_every_type_pair(params):
    """sum_k sign_k A_i^k A_j^k > 0: the short-range Slater sum must be a wall, not a well."""
    types = [t for m in params.molecules.values() for t in m.types.values()]
    for ti, tj in combinations_with_replacement(types, 2):
        net = sum(
            SLATER_SIGNS[c] * getattr(ti, f"A_{c}").value * getattr(tj, f"A_{c}").value
            for c in SLATER_COMPONENTS
        )
        assert net > 0


def _scan(params, names, fixed, mobile, anchor, u):
    ff = ForceField(params, names)
    far = ff.compute(np.concatenate([fixed, mobile + anchor + 50.0 * u]), None, forces=False)["total"]
    return np.array(
        [
            ff.compute(np.concatenate([fixed, mobile + anchor + r * u]), None, forces=False)["total"] - far
            for r in R
        ]
    )


def _axis(xyz, tip, base):
    u = xyz[tip] - xyz[base]
    return xyz[tip], u / np.linalg.norm(u)


def _conformer(name: str) -> np.ndarray:
    from phyneo_flows.chem import build_molecule

    return np.asarray(build_molecule(name).positions_nm)


def test_li_ec_carbonyl_scan_has_wall_and_sane_minimum(params):
    ec = _conformer("EC")
    anchor, u = _axis(ec, 0, 1)  # carbonyl O, from C
    e = _scan(params, ["EC", "Li+"], ec, np.zeros((1, 3)), anchor, u)
    k = int(np.argmin(e))
    assert 0.18 <= R[k] <= 0.22
    assert 100.0 < -e[k] < 250.0
    assert np.all(np.diff(e[: k + 1]) < 0)  # repulsive wall all the way in to 0.06 nm
    assert e[0] > 1000.0


@pytest.mark.slow
def test_li_pf6_fluorine_scan_has_wall_and_sane_minimum(params):
    pf6 = _conformer("PF6-")
    anchor, u = _axis(pf6, 0, 1)  # F, from P
    e = _scan(params, ["PF6-", "Li+"], pf6, np.zeros((1, 3)), anchor, u)
    k = int(np.argmin(e))
    assert 0.17 <= R[k] <= 0.22
    assert np.all(np.diff(e[: k + 1]) < 0)
    assert e[0] > 1000.0
