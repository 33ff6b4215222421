"""Whole-scan splits of SAPT-labelled dimers (fitting.data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.fitting.data import load_dimers, split_by_scan

SAPT = Path(__file__).parents[2] / "fixtures/fitting/sapt0_jun-cc-pvdz"


def test_whole_scans_are_held_out_and_targeted_scans_stay_in_training():
    sampled = load_dimers(SAPT / "Li+-EC.jsonl")
    before = split_by_scan(sampled)
    assert {r.scan for r in before["test"]} == {8, 9}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not {r.scan for r in before[a]} & {r.scan for r in before[b]}
    # a hand-placed scan with the highest scan number would otherwise become a test scan
    targeted = [replace(r, scan=100, extra={"source": {"targeted": True}}) for r in sampled[:12]]
    after = split_by_scan(sampled + targeted)
    assert {r.scan for r in after["test"]} == {8, 9}
    assert {r.scan for r in after["val"]} == {r.scan for r in before["val"]}
    assert len(after["train"]) == len(before["train"]) + 12
    assert all(r.targeted for r in after["train"] if r.scan == 100)


def test_a_pairs_split_does_not_depend_on_other_pair_types():
    """Adding scans of one pair type moves no other pair's validation scans: each pair's split in a joint fit
    is the split of its own file alone (the session-12 defect: one generator across pair types)."""
    files = ["Li+-EC.jsonl", "Li+-PF6-.jsonl", "EC-EC.jsonl", "DMC-DMC.jsonl"]
    alone = {f: split_by_scan(load_dimers(SAPT / f)) for f in files}
    joint = split_by_scan([r for f in files for r in load_dimers(SAPT / f)])
    fewer_dmc = split_by_scan([r for f in files for r in load_dimers(SAPT / f) if not (
        r.pair_type == "DMC-DMC" and r.scan >= 3)])
    for f in files:
        pair = load_dimers(SAPT / f)[0].pair_type
        for part in ("train", "val", "test"):
            own = sorted(r.scan for r in alone[f][part])
            assert sorted(r.scan for r in joint[part] if r.pair_type == pair) == own, (pair, part)
            if pair != "DMC-DMC":
                assert sorted(r.scan for r in fewer_dmc[part] if r.pair_type == pair) == own, (pair, part)
    assert {r.scan for r in joint["val"] if r.pair_type == "Li+-EC"}


def test_pair_balance_gives_each_pair_type_the_same_total_weight():
    """shortrange.point_weights: 0 weighs every dimer alike (down-weighting repulsive points above 25 kJ/mol,
    same-sign ions kept at 1); 1 divides each pair type's weights by its count (factors averaging 1 over the records;
    the fit's loss is normalised by the summed weight anyway)."""
    from phyneo_flows.fitting.shortrange import point_weights

    pf6 = load_dimers(SAPT / "PF6--PF6-.jsonl")
    recs = load_dimers(SAPT / "Li+-EC.jsonl") + load_dimers(SAPT / "DMC-DMC.jsonl")[:24] + pf6
    plain, balanced = point_weights(recs), point_weights(recs, pair_balance=1.0)
    tot = np.array([r.total for r in recs])
    same = np.array([r.same_sign_ions for r in recs])
    np.testing.assert_allclose(plain[~same], np.where(tot > 25, (25 / tot) ** 2, 1.0)[~same])
    assert np.all(plain[same] == 1.0) and same.sum() == len(pf6) > 0
    assert (balanced / plain).mean() == pytest.approx(1.0)
    types = np.array([r.pair_type for r in recs])
    n = {t: (types == t).sum() for t in set(types)}
    for t in n:  # per pair type: its plain weights divided by its count, one common factor
        np.testing.assert_allclose(balanced[types == t] * n[t] / plain[types == t],
                                   balanced[types == "Li+-EC"][0] * n["Li+-EC"] / plain[types == "Li+-EC"][0])


def test_a_pair_type_with_held_out_scans_is_tested_on_them_alone():
    """split_by_scan(held_out=...): PF6--PF6- has a scan computed as test data (sapt0_jun-cc-pvdz/heldout/);
    with it, every PF6--PF6- scan of the fitted file is training or validation, and other pair types split as
    before. A scan in both places is refused (a scan is never split)."""
    from phyneo_flows.errors import InputError

    li_ec = load_dimers(SAPT / "Li+-EC.jsonl")
    fitted = load_dimers(SAPT / "PF6--PF6-.jsonl")  # scans 0 and 2-11 (sessions 15-17)
    held = load_dimers(SAPT / "heldout")
    assert {r.pair_type for r in held} == {"PF6--PF6-"} and {r.scan for r in held} == {1}
    without = split_by_scan(li_ec + fitted)
    assert {r.scan for r in without["test"] if r.pair_type == "PF6--PF6-"} == {10, 11}
    with_held = split_by_scan(li_ec + fitted, held_out=held)
    assert [r for r in with_held["test"] if r.pair_type == "PF6--PF6-"] == held
    pf6_fitted = {r.scan for part in ("train", "val") for r in with_held[part] if r.pair_type == "PF6--PF6-"}
    assert pf6_fitted == {0, *range(2, 12)}
    assert len({r.scan for r in with_held["val"] if r.pair_type == "PF6--PF6-"}) == 1
    assert sum(r.pair_type == "PF6--PF6-" for r in with_held["train"]) >= 96  # issue 6: 96 training points a pair
    for part in ("train", "val", "test"):
        assert [r for r in with_held[part] if r.pair_type == "Li+-EC"] == [
            r for r in without[part] if r.pair_type == "Li+-EC"]
    with pytest.raises(InputError, match="held_out"):
        split_by_scan(fitted + [replace(r, scan=1) for r in fitted[:3]], held_out=held)


@pytest.mark.parametrize("pair", ["EC-EC", "DMC-DMC"])
def test_wall_points_lie_on_their_training_scans_line(pair):
    """The wall points of ``fixtures/fitting/make_sapt_wall.py`` (session 20): each is its training scan's pose
    moved rigidly along that scan's centre-of-mass line to a new closest contact, training data only, and adding
    them leaves the pair's validation and test scans as they were."""
    from phyneo_flows.sampling.dimers import closest_contact_nm

    sampled = load_dimers(SAPT / f"{pair}.jsonl")
    targeted = load_dimers(SAPT / "targeted" / f"{pair}.jsonl")
    assert targeted and all(r.targeted for r in targeted)
    wall = [r for r in targeted if r.extra["source"]["targeted"] == "wall"]
    assert len(wall) >= 8
    alone, joint = split_by_scan(sampled), split_by_scan(sampled + targeted)
    for name in ("val", "test"):
        assert {r.scan for r in joint[name]} == {r.scan for r in alone[name]}
    train_scans = {r.scan for r in alone["train"]}
    by_scan = {}
    for r in sampled:
        by_scan.setdefault(r.scan, []).append(r)
    for r in wall:
        parent = sorted(by_scan[r.extra["source"]["wall_of_scan"]], key=lambda p: p.point)
        assert parent[0].scan in train_scans and r.scan == 500 + parent[0].scan
        np.testing.assert_allclose(r.positions_a_nm, parent[0].positions_a_nm, atol=1e-9)
        # rigid translation of B, parallel to the one between the scan's first and last points
        shift = r.positions_b_nm - parent[0].positions_b_nm
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)
        line = parent[-1].positions_b_nm[0] - parent[0].positions_b_nm[0]
        assert abs(np.dot(shift[0], line)) == pytest.approx(np.linalg.norm(shift[0]) * np.linalg.norm(line),
                                                           rel=1e-9)
        contact = 10 * closest_contact_nm(r.positions_a_nm, r.positions_b_nm)
        assert contact == pytest.approx(r.closest_contact_a, abs=1e-6)
        assert contact == pytest.approx(r.extra["source"]["scan_contact_A"], abs=1e-6)
        assert not any(abs(contact - p.closest_contact_a) < 0.05 for p in parent)  # a new contact


def test_carbonyl_approach_scans_are_rigid_ec_pairs():
    """``fixtures/fitting/make_sapt_carbonyl.py``: two rigid copies of the cluster's EC, B's carbonyl O at the
    recorded distance from A's carbonyl C (over it, along A's ring normal), training data only."""
    import json

    ec = next(m for m in json.loads((SAPT.parent / "clusters_li_ec.json").read_text())["clusters"][0]["molecules"]
              if m["name"] == "EC")
    ref = np.asarray(ec["coordinates_a"]) / 10
    rows = [r for r in load_dimers(SAPT / "targeted/EC-EC.jsonl")
            if r.extra["source"]["targeted"] == "carbonyl approach"]
    assert {r.scan for r in rows} <= {600, 601} and rows

    def distances(x):
        return np.linalg.norm(x[:, None] - x[None], axis=-1)

    for r in rows:
        np.testing.assert_allclose(r.positions_a_nm, ref, atol=1e-9)
        np.testing.assert_allclose(distances(r.positions_b_nm), distances(ref), atol=1e-9)
        o_c = 10 * np.linalg.norm(r.positions_b_nm[0] - ref[1])
        assert o_c == pytest.approx(r.extra["source"]["o_c_distance_a"], abs=1e-6)
        normal = np.cross(ref[2] - ref[1], ref[5] - ref[1])
        along = np.dot(r.positions_b_nm[0] - ref[1], normal) / np.linalg.norm(normal)
        assert abs(along) == pytest.approx(o_c / 10, rel=1e-9)  # straight over the carbonyl C


def test_methyl_approach_scans_are_rigid_dmc_pairs():
    """``fixtures/fitting/make_sapt_methyl.py``: two rigid copies of training scan 0's DMC, B's methyl H (atom 6)
    at the recorded distance from A's target atom, its C-H bond pointing straight at it along A's carbonate normal
    (over the carbonyl C or an ether O) or along A's C=O axis; training data only, on scans of their own."""
    ref = load_dimers(SAPT / "DMC-DMC.jsonl")[0].positions_a_nm
    rows = [r for r in load_dimers(SAPT / "targeted/DMC-DMC.jsonl")
            if r.extra["source"]["targeted"] == "methyl approach"]
    assert rows and all(r.targeted for r in rows)
    target = {"face_c": 2, "face_o": 4, "carbonyl_o": 3}
    carbonyl = (ref[3] - ref[2]) / np.linalg.norm(ref[3] - ref[2])
    normal = np.cross(ref[1] - ref[2], ref[4] - ref[2])
    normal /= np.linalg.norm(normal)

    def distances(x):
        return np.linalg.norm(x[:, None] - x[None], axis=-1)

    for r in rows:
        kind = r.extra["source"]["geometry"]
        assert r.scan == {"face_c": 700, "face_o": 701, "carbonyl_o": 702}[kind]
        np.testing.assert_allclose(r.positions_a_nm, ref, atol=1e-9)
        np.testing.assert_allclose(distances(r.positions_b_nm), distances(ref), atol=1e-9)
        h, c, t = r.positions_b_nm[6], r.positions_b_nm[0], ref[target[kind]]
        assert 10 * np.linalg.norm(h - t) == pytest.approx(r.extra["source"]["h_target_distance_a"], abs=1e-6)
        axis = carbonyl if kind == "carbonyl_o" else normal
        np.testing.assert_allclose((h - t) / np.linalg.norm(h - t), axis, atol=1e-6)
        np.testing.assert_allclose((c - h) / np.linalg.norm(c - h), axis, atol=1e-6)  # C-H points at the target
