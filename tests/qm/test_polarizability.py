"""The Thole induced-dipole model against OpenMM's AmoebaMultipoleForce (mutual polarisation), and the
fitted atomic polarisabilities against the QM (CPHF) tensor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.qm.dispersion import dftd4_properties
from phyneo_flows.qm.models import ATOMIC_NUMBER
from phyneo_flows.qm.polarizability import (
    fit_atomic_polarizabilities,
    induced_dipoles,
    isotropic,
    principal,
    thole_polarizability,
)
from phyneo_flows.units import BOHR_TO_NM

openmm = pytest.importorskip("openmm")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qm" / "pyscf"
EC_POS = np.array([[0.2254, 0.0012, 0.0031], [0.1050, 0.0003, -0.0010], [0.0341, 0.1137, 0.0151],
                   [-0.1044, 0.0771, -0.0104], [-0.1061, -0.0780, 0.0162], [0.0330, -0.1128, -0.0129],
                   [-0.1363, 0.1012, -0.1120], [-0.1629, 0.1298, 0.0638], [-0.1475, -0.0987, 0.1150],
                   [-0.1558, -0.1322, -0.0629]])
EC_ALPHA = np.array([0.8, 1.2, 0.7, 1.3, 1.3, 0.7, 0.4, 0.4, 0.4, 0.4]) * 1e-3  # nm^3


def _openmm_induced(positions, alphas, field_axis, thole=0.39, charge=100.0, distance=200.0):
    """OpenMM's mutual induced dipoles of the atoms in the near-uniform field of two distant charges."""
    system = openmm.System()
    force = openmm.AmoebaMultipoleForce()
    force.setNonbondedMethod(openmm.AmoebaMultipoleForce.NoCutoff)
    force.setPolarizationType(openmm.AmoebaMultipoleForce.Mutual)
    force.setMutualInducedTargetEpsilon(1e-8)
    force.setMutualInducedMaxIterations(1000)
    n = len(alphas)
    for a in alphas:
        system.addParticle(1.0)
        force.addMultipole(0.0, [0, 0, 0], [0] * 9, 5, -1, -1, -1, thole, float(a) ** (1 / 6), float(a))
    for q in (charge, -charge):
        system.addParticle(1.0)
        force.addMultipole(q, [0, 0, 0], [0] * 9, 5, -1, -1, -1, thole, 0.0, 0.0)
    for i in range(n):  # one polarisation group: every intramolecular pair is coupled (u-scale 1)
        force.setCovalentMap(i, openmm.AmoebaMultipoleForce.PolarizationCovalent11, list(range(n)))
    system.addForce(force)
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference"))
    centre = positions.mean(axis=0)
    pos = np.vstack([positions, centre, centre])
    pos[n, field_axis] -= distance
    pos[n + 1, field_axis] += distance
    context.setPositions(pos)
    field = 2.0 * charge / distance**2  # e/nm^2, OpenMM's field has no 1/(4 pi eps0)
    return np.array([list(v) for v in force.getInducedDipoles(context)])[:n], field


def test_induced_dipoles_match_openmm():
    mu_openmm, field = _openmm_induced(EC_POS, EC_ALPHA, field_axis=0)
    mu = induced_dipoles(EC_POS, EC_ALPHA, [field, 0.0, 0.0])
    # OpenMM iterates to ~1e-8 and the field of two charges 200 nm away is uniform to ~1e-6
    np.testing.assert_allclose(mu, mu_openmm, rtol=1e-3, atol=1e-3 * np.abs(mu).max())


def test_molecular_tensor_matches_openmm():
    tensor = thole_polarizability(EC_POS, EC_ALPHA)
    columns = []
    for axis in range(3):
        mu, field = _openmm_induced(EC_POS, EC_ALPHA, field_axis=axis)
        columns.append(mu.sum(axis=0) / field)
    np.testing.assert_allclose(tensor, np.array(columns).T, rtol=1e-4, atol=1e-4 * isotropic(tensor))


@pytest.mark.parametrize("name", ["water", "EC"])
def test_fitted_atoms_reproduce_the_qm_tensor(name):
    """HF/aug-cc-pVDZ CPHF tensor (fixture): isotropic within 2 %, principal values within 10 %."""
    path = FIXTURES / f"properties_{name}_hf_augccpvdz.json"
    doc = json.loads(path.read_text())
    props = doc["properties"]
    pos_bohr = np.asarray(doc["positions_nm"]) / BOHR_TO_NM
    qm = np.asarray(props["molecular_polarizability"]) / BOHR_TO_NM**3
    types = [a["atom_type"] for a in props["atoms"]]
    numbers = [ATOMIC_NUMBER[s] for s in doc["symbols"]]
    alpha_d4 = dftd4_properties(numbers, pos_bohr)["alpha"]
    prior = {t: float(np.mean([a for a, u in zip(alpha_d4, types, strict=True) if u == t])) for t in types}
    free = fit_atomic_polarizabilities([(pos_bohr, types, qm)], {t: 3.0 for t in types})
    model = thole_polarizability(pos_bohr, [free[t] for t in types])
    assert isotropic(model) == pytest.approx(isotropic(qm), rel=0.02)
    np.testing.assert_allclose(principal(model), principal(qm), rtol=0.10)
    # the stored per-atom values: the fit pulled towards D4's atomic values (weight 0.05), same criteria
    stored = np.array([a["polarizability"] for a in props["atoms"]]) / BOHR_TO_NM**3
    regular = fit_atomic_polarizabilities([(pos_bohr, types, qm)], prior, prior_weight=0.05)
    np.testing.assert_allclose(stored, [regular[t] for t in types], rtol=1e-3)
    model = thole_polarizability(pos_bohr, stored)
    assert isotropic(model) == pytest.approx(isotropic(qm), rel=0.02)
    np.testing.assert_allclose(principal(model), principal(qm), rtol=0.10)
    # and stays physical: every atom within a factor 3 of its D4 value
    assert all(1 / 3 < regular[t] / prior[t] < 3 for t in types)


def test_isolated_atom_is_its_own_polarisability():
    np.testing.assert_allclose(thole_polarizability(np.zeros((1, 3)), [1.5]), 1.5 * np.eye(3))
