"""MBIS on PySCF's grid against psi4's own published MBIS test (tests/mbis-1, HF/cc-pVDZ water) and
against the density's analytic dipole moment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.qm.mbis import default_shells, load_density, make_grid, mbis_partition

DENSITIES = Path(__file__).resolve().parents[2] / "fixtures" / "qm" / "pyscf" / "densities"

# psi4 1.4+ tests/mbis-1/input.dat (HF/cc-pVDZ, scf_type df, MBIS grid 99 x 350): charges_ref, avols_ref,
# dipoles_ref, and quadrupoles_ref (raw electronic second moments xx, xy, xz, yy, yz, zz), atomic units.
PSI4_CHARGES = np.array([-0.84572442, 0.42286136, 0.42286136])
PSI4_VOLUMES = np.array([26.33765183, 1.50946513, 1.50946513])
PSI4_DIPOLES = np.array([[0.0, 0.0, -1.69806726e-01], [0.0, -3.05701468e-02, 7.96317835e-03],
                         [0.0, 3.05701468e-02, 7.96317835e-03]])
PSI4_SECOND = np.array([[-4.70466222, 0.0, 0.0, -4.49125694, 0.0, -4.60614604],
                        [-2.98291759e-01, 0.0, 0.0, -2.88023807e-01, -1.70119477e-03, -2.83741122e-01],
                        [-2.98291759e-01, 0.0, 0.0, -2.88023807e-01, 1.70119477e-03, -2.83741122e-01]])


def _full(six: np.ndarray) -> np.ndarray:
    xx, xy, xz, yy, yz, zz = six
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


@pytest.fixture(scope="module")
def water_mbis():
    mol, dm = load_density(DENSITIES / "water_hf_ccpvdz.npz")
    return mbis_partition(mol, dm, grids=make_grid(mol, 99, 350))


def test_water_charges_and_volumes_match_psi4(water_mbis):
    np.testing.assert_allclose(water_mbis.charges, PSI4_CHARGES, atol=2e-3)
    np.testing.assert_allclose(water_mbis.volumes, PSI4_VOLUMES, rtol=1e-2)
    assert water_mbis.charges.sum() == pytest.approx(0.0, abs=1e-5)


def test_water_dipoles_and_second_moments_match_psi4(water_mbis):
    np.testing.assert_allclose(water_mbis.dipoles, PSI4_DIPOLES, atol=1e-3)
    second = np.array([_full(row) for row in PSI4_SECOND])
    np.testing.assert_allclose(water_mbis.second_moments, second, atol=2e-3)
    # the traceless quadrupole is Buckingham's 1/2 (3 S - tr S) built from the same second moments
    traceless = 0.5 * (3.0 * second - np.trace(second, axis1=1, axis2=2)[:, None, None] * np.eye(3))
    np.testing.assert_allclose(water_mbis.quadrupoles, traceless, atol=3e-3)
    np.testing.assert_allclose(np.trace(water_mbis.quadrupoles, axis1=1, axis2=2), 0.0, atol=1e-10)


def test_charges_and_atomic_dipoles_rebuild_the_molecular_dipole():
    """sum_A q_A R_A + d_A equals the analytic dipole of the same density (EC, HF/aug-cc-pVDZ)."""
    mol, dm = load_density(DENSITIES / "ec_hf_augccpvdz.npz")
    parts = mbis_partition(mol, dm, grids=make_grid(mol, 75, 302))
    rebuilt = parts.charges @ mol.atom_coords() + parts.dipoles.sum(axis=0)
    nuclear = mol.atom_charges() @ mol.atom_coords()
    with mol.with_common_orig((0.0, 0.0, 0.0)):
        electronic = np.einsum("xij,ji->x", mol.intor_symmetric("int1e_r", comp=3), dm)
    analytic = nuclear - electronic
    assert np.linalg.norm(analytic) > 1.5  # EC is very polar (about 5 D)
    np.testing.assert_allclose(rebuilt, analytic, atol=1e-3)


def test_alkali_cations_get_one_shell():
    assert [default_shells(z) for z in (1, 3, 6, 8, 9, 11, 15, 19)] == [1, 1, 2, 2, 2, 1, 3, 1]


def test_lithium_cation_with_one_shell_converges():
    """Li+ beside water (HF/def2-SVP, a real PySCF run of about a second): one Li shell converges, and the
    ion keeps almost all of its charge."""
    from pyscf import gto, scf

    mol = gto.M(atom="Li 0 0 -1.9; O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="def2-svp",
                charge=1, verbose=0)
    mf = scf.RHF(mol).density_fit()
    mf.kernel()
    parts = mbis_partition(mol, mf.make_rdm1(), grids=make_grid(mol, 60, 194))
    assert len(parts.populations[0]) == 1
    assert parts.charges.sum() == pytest.approx(1.0, abs=1e-4)
    assert 0.85 < parts.charges[0] < 1.0
