"""`phyneo fit evaluate` and `phyneo fit report` in a new process, and the physics-fit Maker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
SAPT = ROOT / "fixtures/fitting/sapt0_jun-cc-pvdz"
FITTED = ROOT / "fixtures/fitting/params/params.json"
LITERATURE = ROOT / "fixtures/ff/lipf6_ec_dmc/params.json"


def _first_lines(n: int, path: Path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r for r in rows if "components_kj_mol" in r][:n]


@pytest.fixture
def dimers(tmp_path):
    rows = _first_lines(12, SAPT / "Li+-EC.jsonl")
    path = tmp_path / "dimers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_fit_evaluate_json_fields(phyneo, dimers):
    """Per pair type n_train, n_test, test_rmse_kj_mol and physics_only_test_rmse_kj_mol; the RMSE is the one
    of the scored points (total < 25 kJ/mol) of the model's own per-point totals."""
    path, rows = dimers
    res = json.loads(phyneo("fit", "evaluate", str(LITERATURE), str(path), "--json").stdout)
    row = res["pairs"]["Li+-EC"]
    assert set(row) >= {"n_train", "n_test", "test_rmse_kj_mol", "physics_only_test_rmse_kj_mol"}
    assert row["n_train"] == 0 and row["n_test"] == len(rows)
    scored = [r["components_kj_mol"]["total"] < 25.0 for r in rows]
    assert row["n_test_scored"] == sum(scored)
    assert row["test_rmse_kj_mol"] == row["physics_only_test_rmse_kj_mol"] > 0
    comps = res["metrics"]["Li+-EC"]
    # the total error cannot exceed the sum of the component errors (triangle inequality on RMSEs)
    parts = sum(comps[c]["rmse"] for c in ("electrostatics", "exchange", "induction", "dispersion"))
    assert row["test_rmse_kj_mol"] <= parts + 1e-9
    assert np.isfinite(row["test_rmse_kj_mol"])


def test_fit_evaluate_bad_input_is_a_clear_error(phyneo, tmp_path, dimers):
    from phyneo_flows.errors import InputError
    from phyneo_flows.fitting.cli import evaluate_summary

    path, rows = dimers
    only_ec = tmp_path / "ec_only.json"
    params = json.loads(LITERATURE.read_text())
    params["molecules"] = {"EC": params["molecules"]["EC"]}
    only_ec.write_text(json.dumps(params))
    proc = phyneo("fit", "evaluate", str(only_ec), str(path), check=False)
    assert proc.returncode == 2 and "Li+" in proc.stderr and "no parameters" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(InputError, match="not JSON Lines") as err:
        evaluate_summary(LITERATURE, bad)
    assert err.value.field == "DIMERS"
    with pytest.raises(InputError, match="does not exist"):
        evaluate_summary(tmp_path / "missing.json", path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="no SAPT-labelled dimer"):
        evaluate_summary(LITERATURE, empty)


def test_known_molecules_are_reused_without_qm_or_fit(phyneo, monkeypatch):
    """A new formulation of molecules fitted before: no QM, no fit; `fit report` shows the stored document."""
    from jobflow import run_locally

    from phyneo_flows.fitting import jobs, shortrange
    from phyneo_flows.qm import properties
    from phyneo_flows.settings import get_settings
    from phyneo_flows.store import connected, get_store

    monkeypatch.setattr(properties, "compute_properties", lambda *a, **k: pytest.fail("QM started"))
    monkeypatch.setattr(shortrange, "fit_short_range", lambda *a, **k: pytest.fail("refit started"))
    monkeypatch.setattr(shortrange, "run_physics_fit", lambda *a, **k: pytest.fail("refit started"))
    maker = jobs.PhysicsFitMaker(known_params=str(FITTED))
    job = maker.make("lipf6_ec_dmc_new", ["Li+", "PF6-", "EC", "DMC"], str(SAPT))
    store = connected(get_store(get_settings()))
    run_locally(job, store=store, log=False, raise_immediately=True)
    doc = store.query_one({"output.stage": "fit"}, load=True)["output"]
    assert doc["fitted_molecules"] == [] and sorted(doc["reused_molecules"]) == ["DMC", "EC", "Li+", "PF6-"]
    fitted = json.loads(FITTED.read_text())["molecules"]
    assert doc["params"]["molecules"]["EC"]["types"] == fitted["EC"]["types"]
    report = json.loads(phyneo("fit", "report", "lipf6_ec_dmc_new", "--json").stdout)
    assert report["reused_molecules"] == doc["reused_molecules"] and "pairs" in report
    proc = phyneo("fit", "report", "nothing_here", check=False)
    assert proc.returncode == 2 and "no physics fit stored" in proc.stderr


@pytest.mark.slow
def test_physics_fit_maker_stores_a_fit_document(phyneo, tmp_path):
    """New molecules: the Maker fits them and stores metrics, split, parameters and PNG plots (data store)."""
    import base64

    from jobflow import run_locally

    from phyneo_flows.fitting import jobs
    from phyneo_flows.settings import get_settings
    from phyneo_flows.store import connected, get_store

    rows = _first_lines(36, SAPT / "Li+-EC.jsonl")
    path = tmp_path / "dimers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    maker = jobs.PhysicsFitMaker(property_files={"EC": str(ROOT / "fixtures/qm/pyscf/properties_EC_hf_augccpvdz.json")},
                                 fit_settings={"steps": 100, "test_scans": 1, "val_scans": 1})
    job = maker.make("li_ec_test", ["Li+", "EC"], str(path))
    store = connected(get_store(get_settings()))
    run_locally(job, store=store, log=False, raise_immediately=True)
    doc = store.query_one({"output.stage": "fit"}, load=True)["output"]
    assert sorted(doc["fitted_molecules"]) == ["EC", "Li+"] and doc["reused_molecules"] == []
    assert set(doc["split"]) == {"train", "val", "test"} and doc["split"]["test"]["Li+-EC"] == [2]
    assert base64.b64decode(doc["parity_png"]["train"])[:4] == b"\x89PNG"
    report = json.loads(phyneo("fit", "report", "li_ec_test", "--json").stdout)
    n_test = sum(r["scan"] == 2 for r in rows)
    assert report["pairs"]["Li+-EC"]["n_test"] == n_test and report["pairs"]["Li+-EC"]["n_train"] == 12


def test_committed_params_on_the_held_out_pf6_pf6_scan():
    """`sapt0_jun-cc-pvdz/heldout/PF6--PF6-.jsonl` (session 13) is a PF6--PF6- scan at the scored contacts
    (2.27-6.2 A), never fitted: PF6--PF6-'s test set (`split_by_scan(held_out=...)`). The committed parameters on
    it, physics only: RMSE 1.99 kJ/mol over the 10 points (session 20's refit with the EC-EC wall and carbonyl
    points, which move EC's parameters and through the joint fit of Li+, EC and PF6- PF6-'s: 1.76 -> 1.99; session
    17: 1.76, PF6--PF6- trained on 102 points of scans 0, 2-9 and 11, validation scan 10; session 16, C8 at the
    SAPT level, 42 training points: 1.66; session 15, 3 training points: 2.19; session 14's joint fit 1.51; SAPT0
    totals 163-370 kJ/mol of Coulomb repulsion), within the issue's 10 kJ/mol for ion pairs."""
    from phyneo_flows.fitting.cli import evaluate_summary

    res = evaluate_summary(FITTED, SAPT / "heldout/PF6--PF6-.jsonl")
    row = res["pairs"]["PF6--PF6-"]
    assert row["n_train"] == 0 and row["n_test"] == row["n_test_scored"] == 10
    assert row["physics_only_test_rmse_kj_mol"] == pytest.approx(1.993, abs=0.05)
    assert row["physics_only_test_rmse_kj_mol"] < 10.0


def test_committed_params_on_liquid_dmc_pairs():
    """`sapt0_jun-cc-pvdz/active/DMC-DMC.jsonl`: 15 DMC-DMC contacts cut from liquid frames (sessions 7-8: a
    densified box and the quick run's 50 ps checkpoint, closest contacts 1.7-2.5 A, distorted monomers), which
    `make_params.py` never reads: a blind check of the fit on the contacts the liquid makes, beside the packmol
    scans. The committed parameters, physics only: RMSE 15.59 kJ/mol over the 15 (session 21's refit with the
    methyl-approach points; session 20's fit: 28.39, its errors up to +61 on these same pairs, over-repelled). All
    15 are under 25 kJ/mol, so all are scored; the issue's 1 kJ/mol is for the held-out scans, not these."""
    from phyneo_flows.fitting.cli import evaluate_summary

    row = evaluate_summary(FITTED, SAPT / "active/DMC-DMC.jsonl")["pairs"]["DMC-DMC"]
    assert row["n_train"] == 0 and row["n_test"] == row["n_test_scored"] == 15
    assert row["physics_only_test_rmse_kj_mol"] == pytest.approx(15.59, abs=0.05)
