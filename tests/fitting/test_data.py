"""Whole-scan splits of SAPT-labelled dimers (fitting.data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
