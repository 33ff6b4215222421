import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from phyneo_flows.chem import build_box, build_molecule
from phyneo_flows.formulation import load_formulation
from phyneo_flows.sampling import Dimer, com_scan, cut_clusters, cut_dimers, fingerprint, pair_type, select_diverse
from phyneo_flows.sampling.dimers import DEFAULT_SCAN_CONTACTS_A


def ec_dimer(offset=(0.5, 0.1, 0.0), rot=None) -> Dimer:
    ec = build_molecule("EC")
    b = ec.positions_nm @ (rot.as_matrix().T if rot is not None else np.eye(3)) + np.array(offset)
    return Dimer("EC", "EC", ec.symbols, ec.symbols, ec.positions_nm.copy(), b)


def test_pair_type_is_order_free():
    assert pair_type("PF6-", "Li+") == pair_type("Li+", "PF6-") == "Li+-PF6-"


def test_com_scan_hits_each_contact_and_keeps_molecules_rigid():
    d = ec_dimer()
    scan = com_scan(d)
    assert len(scan) == 12 and DEFAULT_SCAN_CONTACTS_A[0] == 1.4 and DEFAULT_SCAN_CONTACTS_A[-1] == 6.2
    for s, target in zip(scan, DEFAULT_SCAN_CONTACTS_A, strict=True):
        assert 10 * s.closest_contact_nm == pytest.approx(target, abs=1e-6)
        # B moved rigidly: internal distances unchanged
        assert np.allclose(np.linalg.norm(s.positions_b_nm - s.positions_b_nm[0], axis=1),
                           np.linalg.norm(d.positions_b_nm - d.positions_b_nm[0], axis=1))
        assert np.array_equal(s.positions_a_nm, d.positions_a_nm)
    # all along one line: B's displacements are parallel
    moves = np.array([s.positions_b_nm[0] - scan[0].positions_b_nm[0] for s in scan[1:]])
    unit = moves / np.linalg.norm(moves, axis=1)[:, None]
    assert np.allclose(unit, unit[0], atol=1e-9)


def test_fingerprint_ignores_rigid_motion_and_sees_a_new_pose():
    d = ec_dimer()
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0])
    both = Dimer("EC", "EC", d.symbols_a, d.symbols_b, rot.apply(d.positions_a_nm) + 1.0,
                 rot.apply(d.positions_b_nm) + 1.0)
    assert np.allclose(fingerprint(d), fingerprint(both))
    other = ec_dimer(rot=Rotation.from_euler("z", 1.0))
    assert not np.allclose(fingerprint(d), fingerprint(other), rtol=1e-3)


def test_select_diverse_drops_duplicates():
    d = ec_dimer()
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0])
    copies = [Dimer("EC", "EC", d.symbols_a, d.symbols_b, rot.apply(d.positions_a_nm), rot.apply(d.positions_b_nm))
              for _ in range(5)]
    poses = [ec_dimer(rot=Rotation.from_euler("z", a)) for a in (0.5, 1.5, 2.5)]
    picked = select_diverse(copies + [d] + poses, 10)
    assert len(picked) == 4


def test_cut_dimers_across_the_periodic_boundary():
    ec = build_molecule("EC")
    box = 3.0
    a = ec.positions_nm + np.array([0.1, 1.5, 1.5])
    b = ec.positions_nm + np.array([box - 0.35, 1.5, 1.5])  # its image sits 0.45 nm from A's centre
    far = ec.positions_nm + np.array([1.5, 1.5, 1.5])
    positions = np.vstack([a, b, far])
    index = np.repeat([0, 1, 2], ec.n_atoms)
    dimers = cut_dimers(positions, box, index, ["EC"] * 3, ec.symbols * 3, cutoff_nm=0.35)
    assert [tuple(x.source["molecules"]) for x in dimers] == [(0, 1)]
    assert dimers[0].closest_contact_nm <= 0.35
    assert np.linalg.norm(dimers[0].positions_b_nm.mean(0) - a.mean(0)) < 1.0


def test_dimers_and_clusters_from_a_packed_box():
    box = build_box(load_formulation("workflows/lipf6_ec_dmc.yaml"), n_atoms=600)
    charges = {"Li+": 1, "PF6-": -1}
    dimers = cut_dimers(box.positions_nm, box.box_nm, box.molecule_index, box.molecule_species, box.symbols,
                        charges, cutoff_nm=0.4)
    kinds = {d.pair_type for d in dimers}
    assert {"EC-EC", "DMC-EC", "DMC-DMC"} <= kinds
    for d in dimers:
        assert d.closest_contact_nm <= 0.4 + 1e-12
        assert d.pair_type == pair_type(d.species_a, d.species_b) and d.species_a <= d.species_b
    li = [d for d in dimers if "Li+" in (d.species_a, d.species_b)]
    assert all(d.charge_a + d.charge_b in (0, 1) for d in li)
    clusters = cut_clusters(box.positions_nm, box.box_nm, box.molecule_index, box.molecule_species, box.symbols,
                            "Li+", ["EC"], 4)
    assert clusters and all(c["species"] == ["Li+"] + ["EC"] * 4 for c in clusters)
    assert all(len(c["symbols"]) == 1 + 4 * 10 for c in clusters)


def test_xyz_round_trip_for_the_qm_cli():
    d = ec_dimer()
    lines = d.xyz().splitlines()
    assert lines[0] == "20" and "split=10" in lines[1]
    xyz = np.array([[float(v) for v in line.split()[1:]] for line in lines[2:]])
    assert np.allclose(xyz[10:] / 10.0, d.positions_b_nm, atol=1e-7)
