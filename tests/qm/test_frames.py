"""Local frames against OpenMM's AmoebaMultipoleForce: OpenMM rotates our local-frame multipoles back
to the lab frame, and must recover the lab-frame dipoles (getLabFramePermanentDipoles) and the
quadrupole energy with a probe charge."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.qm.frames import (
    BISECTOR,
    NO_AXIS,
    THREE_FOLD,
    Z_BISECT,
    Z_ONLY,
    Z_THEN_X,
    average_equivalent,
    bonds_from_geometry,
    choose_frames,
    symmetry_classes,
    to_lab,
    to_local,
)
from phyneo_flows.qm.models import ATOMIC_NUMBER

openmm = pytest.importorskip("openmm")

# EC (ethylene carbonate), a non-symmetric conformer, nm
EC_SYMBOLS = ["O", "C", "O", "C", "C", "O", "H", "H", "H", "H"]
EC_POS = np.array([[0.2254, 0.0012, 0.0031], [0.1050, 0.0003, -0.0010], [0.0341, 0.1137, 0.0151],
                   [-0.1044, 0.0771, -0.0104], [-0.1061, -0.0780, 0.0162], [0.0330, -0.1128, -0.0129],
                   [-0.1363, 0.1012, -0.1120], [-0.1629, 0.1298, 0.0638], [-0.1475, -0.0987, 0.1150],
                   [-0.1558, -0.1322, -0.0629]])


def _random_multipoles(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dip = rng.normal(scale=0.01, size=(n, 3))
    quad = rng.normal(scale=0.001, size=(n, 3, 3))
    quad = quad + quad.transpose(0, 2, 1)
    quad -= np.trace(quad, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3
    return dip, quad


def _openmm_context(frames, local_dip, local_quad, positions, charges, probe=None):
    system = openmm.System()
    force = openmm.AmoebaMultipoleForce()
    force.setNonbondedMethod(openmm.AmoebaMultipoleForce.NoCutoff)
    force.setPolarizationType(openmm.AmoebaMultipoleForce.Direct)
    n = len(frames)
    for i, f in enumerate(frames):
        system.addParticle(1.0)
        # OpenMM takes the quadrupole as Theta / 3
        force.addMultipole(float(charges[i]), local_dip[i].tolist(), (local_quad[i] / 3.0).ravel().tolist(),
                           f.axis_type, f.z, f.x, f.y, 0.39, 0.0, 0.0)
    pos = positions
    if probe is not None:
        system.addParticle(1.0)
        force.addMultipole(1.0, [0, 0, 0], [0] * 9, NO_AXIS, -1, -1, -1, 0.39, 0.0, 0.0)
        for i in range(n):
            force.setCovalentMap(i, openmm.AmoebaMultipoleForce.Covalent12,
                                 [j for j in range(n) if j != i])
        pos = np.vstack([positions, probe])
    system.addForce(force)
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(pos)
    return force, context


def test_ec_frames_from_graph():
    z = [ATOMIC_NUMBER[s] for s in EC_SYMBOLS]
    bonds = bonds_from_geometry(EC_SYMBOLS, EC_POS)
    assert len(bonds) == 10
    classes = symmetry_classes(z, bonds)
    assert classes[2] == classes[5] and classes[3] == classes[4] and len({classes[i] for i in range(6, 10)}) == 1
    frames = choose_frames(z, bonds, classes)
    assert frames[0].axis_type == Z_BISECT and frames[0].z == 1 and {frames[0].x, frames[0].y} == {2, 5}
    assert frames[1].axis_type == Z_BISECT and frames[1].z == 0
    assert all(frames[i].axis_type == Z_THEN_X for i in range(2, 10))


def test_small_molecule_frame_types():
    water = choose_frames([8, 1, 1], [(0, 1), (0, 2)])
    assert water[0].axis_type == BISECTOR and water[1].axis_type == Z_THEN_X and water[1].x == 2
    ammonia = choose_frames([7, 1, 1, 1], [(0, 1), (0, 2), (0, 3)])
    assert ammonia[0].axis_type == THREE_FOLD
    hf = choose_frames([9, 1], [(0, 1)])
    assert hf[0].axis_type == Z_ONLY and hf[1].axis_type == Z_ONLY
    methane = choose_frames([6, 1, 1, 1, 1], [(0, k) for k in range(1, 5)])
    assert methane[0].axis_type == NO_AXIS
    assert choose_frames([3], [])[0].axis_type == NO_AXIS


def test_openmm_rotates_our_local_dipoles_back_to_the_lab_frame():
    z = [ATOMIC_NUMBER[s] for s in EC_SYMBOLS]
    frames = choose_frames(z, bonds_from_geometry(EC_SYMBOLS, EC_POS))
    dip, quad = _random_multipoles(len(z))
    local_dip, local_quad = to_local(frames, EC_POS, dip, quad)
    back_dip, back_quad = to_lab(frames, EC_POS, local_dip, local_quad)
    np.testing.assert_allclose(back_dip, dip, atol=1e-12)
    np.testing.assert_allclose(back_quad, quad, atol=1e-12)
    force, context = _openmm_context(frames, local_dip, local_quad, EC_POS, np.zeros(len(z)))
    lab = np.array([[v for v in d] for d in force.getLabFramePermanentDipoles(context)])
    np.testing.assert_allclose(lab, dip, atol=1e-8)


@pytest.mark.parametrize("molecule", ["ec", "hf"])
def test_openmm_quadrupole_energy_with_a_probe_charge_matches_ours(molecule):
    """Energy of a unit probe charge 3 nm away: OpenMM (local frames, Theta/3) vs our lab-frame sum
    q/r + mu.d/r^3 + d.Theta.d/r^5 (Buckingham), times ONE_4PI_EPS0."""
    from phyneo_flows.units import ONE_4PI_EPS0

    if molecule == "ec":
        symbols, pos = EC_SYMBOLS, EC_POS
    else:  # Z-only frames
        symbols, pos = ["F", "H"], np.array([[0.01, 0.02, 0.03], [0.05, 0.07, 0.09]])
    z = [ATOMIC_NUMBER[s] for s in symbols]
    frames = choose_frames(z, bonds_from_geometry(symbols, pos))
    dip, quad = _random_multipoles(len(z), seed=3)
    charges = np.linspace(-0.3, 0.3, len(z))
    charges -= charges.mean()
    local_dip, local_quad = to_local(frames, pos, dip, quad)
    probe = np.array([1.7, -2.1, 1.2])
    _, context = _openmm_context(frames, local_dip, local_quad, pos, charges, probe=probe)
    e_openmm = context.getState(getEnergy=True).getPotentialEnergy()._value
    d = probe[None, :] - pos
    r = np.linalg.norm(d, axis=1)
    phi = charges / r + np.einsum("ai,ai->a", dip, d) / r**3 + np.einsum("ai,aij,aj->a", d, quad, d) / r**5
    assert e_openmm == pytest.approx(ONE_4PI_EPS0 * phi.sum(), rel=1e-6)


def test_average_over_equivalent_atoms():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    np.testing.assert_allclose(average_equivalent(values, [0, 0, 1]), [[2.0, 1.0], [2.0, 1.0], [5.0, 5.0]])
