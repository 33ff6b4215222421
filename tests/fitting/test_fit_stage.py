"""The physics fit as the pipeline's fit stage, fed with real SAPT0/jun-cc-pVDZ Li+-EC dimers reshaped as the
SAPT stage stores them (SaptPairDocument), not with a mock engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jobflow import Flow, run_locally

from phyneo_flows.ff.params import load_params
from phyneo_flows.fitting.data import COMPONENTS, load_dimers
from phyneo_flows.fitting.pipeline import PipelineFitMaker, sapt_records
from phyneo_flows.formulation import load_formulation
from phyneo_flows.qm.stage_jobs import SaptPairDocument
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store
from phyneo_flows.testing import REPO_ROOT

LI_EC = REPO_ROOT / "fixtures/fitting/sapt0_jun-cc-pvdz/Li+-EC.jsonl"
LI_PF6 = REPO_ROOT / "fixtures/fitting/sapt0_jun-cc-pvdz/Li+-PF6-.jsonl"
KNOWN = REPO_ROOT / "fixtures/fitting/params/params.json"
EC_PROPS = REPO_ROOT / "fixtures/qm/pyscf/properties_EC_hf_augccpvdz.json"
LIPF6 = REPO_ROOT / "workflows/lipf6_ec_dmc.yaml"


def sapt_doc(scans: set[int] | None = None, key: str = "sapt-li-ec", path=LI_EC, pair: str = "Li+-EC") -> dict:
    """The committed psi4 dimers as the SAPT stage would have stored them (rows in file order reversed, so
    that the conversion has to regroup and reorder them)."""
    rows = []
    for line in reversed(path.read_text().splitlines()):
        obj = json.loads(line)
        if "components_kj_mol" not in obj or (scans is not None and obj["scan"] not in scans):
            continue
        rows.append({"engine": "psi4", "version": obj.get("engine", ""), "input_hash": f"{obj['scan']}-{obj['point']}",
                     "method": obj["method"], "basis": obj["basis"], **obj["components_kj_mol"],
                     "source": obj["source"], "closest_contact_a": obj["closest_contact_a"],
                     "dimer": {"monomer_a": obj["monomer_a"], "monomer_b": obj["monomer_b"]}})
    failure = {"input_hash": "broken", "error": "SCF did not converge"}
    return SaptPairDocument(formulation="lipf6_ec_dmc", input_hash=key, pair_type=pair, method="sapt0",
                            basis="jun-cc-pvdz", results=rows, failures=[failure]).model_dump(mode="json")


def run(job):
    store = get_store(get_settings())
    run_locally(Flow([job]), store=store, log=False, ensure_success=True)
    store.connect()
    return store.query_one({"uuid": job.uuid}, load=True)["output"]


def test_sapt_rows_become_the_same_dimers_and_scans_as_the_psi4_file():
    records, skipped = sapt_records([sapt_doc()])
    ref = load_dimers(LI_EC)
    assert skipped == 1 and len(records) == len(ref) == 120
    mine = {(tuple(r.positions_b_nm.ravel().round(9)), r.closest_contact_a): r for r in records}
    scan_map = {}
    for r in ref:
        m = mine[(tuple(r.positions_b_nm.ravel().round(9)), r.closest_contact_a)]
        assert all(m.components_kj_mol[c] == r.components_kj_mol[c] for c in COMPONENTS)
        assert np.array_equal(m.positions_a_nm, r.positions_a_nm) and (m.species_a, m.species_b) == ("EC", "Li+")
        scan_map.setdefault(r.scan, set()).add(m.scan)
        assert m.point == r.point  # points ordered by closest contact within a pose
    # one scan per sampled pose: the same partition as the file's own scan numbers
    assert all(len(v) == 1 for v in scan_map.values()) and len({min(v) for v in scan_map.values()}) == 10


def no_optimiser(*args, **kwargs):
    raise AssertionError("an optimiser started for frozen molecules")


def test_known_molecules_are_frozen_reused_and_the_stored_fit_is_read_back(monkeypatch):
    import phyneo_flows.fitting.shortrange as shortrange

    for name in ("_optimise", "fit_short_range", "run_physics_fit"):
        monkeypatch.setattr(shortrange, name, no_optimiser)
    formulation = load_formulation(LIPF6).model_dump(mode="json")
    maker = PipelineFitMaker(known_params=str(KNOWN), evaluate_known=False)
    out = run(maker.make(box={}, sapt=[sapt_doc()], formulation=formulation))
    known = load_params(KNOWN).model_dump(mode="json")
    assert out["params"]["molecules"] == known["molecules"]
    assert sorted(out["frozen_molecules"]) == ["DMC", "EC", "Li+", "PF6-"] and out["fitted_molecules"] == []
    assert out["generation"] == 1 and out["input_hash"] == maker.key(["sapt-li-ec"])
    assert out["n_dimers"] == 120 and out["n_skipped"] == 1
    # the same inputs again: read from the store, not recomputed; other SAPT inputs: another key
    monkeypatch.setattr("phyneo_flows.fitting.pipeline.sapt_records", no_optimiser)
    again = run(maker.make(box={}, sapt=[sapt_doc()], formulation=formulation))
    assert again["reused_from"] is not None and again["params"] == out["params"]
    assert maker.key(["other"]) != maker.key(["sapt-li-ec"])


@pytest.mark.slow
def test_known_parameters_are_scored_on_the_sapt_dimers_without_an_optimiser(monkeypatch):
    """The committed parameters were fitted on Li+-EC scans 0-5 (params.json provenance): scored on their
    held-out scans 4 and 5 as the SAPT stage delivers them, the total is within a few kJ/mol."""
    import phyneo_flows.fitting.shortrange as shortrange

    monkeypatch.setattr(shortrange, "_optimise", no_optimiser)
    formulation = load_formulation(LIPF6).model_dump(mode="json")
    out = run(PipelineFitMaker(known_params=str(KNOWN)).make(box={}, sapt=[sapt_doc(scans={4, 5})],
                                                             formulation=formulation))
    assert out["params"]["molecules"] == load_params(KNOWN).model_dump(mode="json")["molecules"]
    par = out["parity"]["Li+-EC"]
    sapt_totals = sorted(r.total for r in load_dimers(LI_EC) if r.scan in (4, 5))
    assert sorted(par["reference_kj_mol"]) == pytest.approx(sapt_totals) and len(par["predicted_kj_mol"]) == 24
    m = out["pair_metrics"]["Li+-EC"]
    assert m["n"] == 24 and 0 < m["rmse_kj_mol"] < 10.0, m


@pytest.mark.slow
def test_a_new_molecule_is_fitted_against_frozen_ions(tmp_path):
    """EC starts from its monomer properties; Li+, DMC and PF6- are known. A few Adam steps on 2 train scans
    lower the train RMSE of the total below that of the start parameters."""
    known = json.loads(KNOWN.read_text())
    del known["molecules"]["EC"]
    (tmp_path / "known.json").write_text(json.dumps(known))
    formulation = load_formulation(LIPF6).model_dump(mode="json")
    settings = {"test_scans": 1, "val_scans": 0}

    def fit(steps):
        maker = PipelineFitMaker(known_params=str(tmp_path / "known.json"), property_files={"EC": str(EC_PROPS)},
                                 fit_settings=settings | {"steps": steps})
        return run(maker.make(box={}, sapt=[sapt_doc(scans={0, 1, 2})], formulation=formulation))

    start, fitted = fit(0), fit(60)
    assert fitted["fitted_molecules"] == ["EC"] and sorted(fitted["frozen_molecules"]) == ["DMC", "Li+", "PF6-"]
    assert fitted["params"]["molecules"]["Li+"] == start["params"]["molecules"]["Li+"] == known["molecules"]["Li+"]
    ec0, ec1 = start["params"]["molecules"]["EC"]["types"], fitted["params"]["molecules"]["EC"]["types"]
    assert any(ec0[t]["B"] != ec1[t]["B"] for t in ec0)
    r0, r1 = start["pair_metrics"]["Li+-EC"]["train_rmse_kj_mol"], fitted["pair_metrics"]["Li+-EC"]["train_rmse_kj_mol"]
    assert r1 < r0, (r0, r1)
    assert fitted["split"]["test"] == {"Li+-EC": [2]}


def test_the_pipeline_flow_runs_md_on_the_fitted_generation():
    from phyneo_flows.flows import PhyneoElectrolyteMaker
    from phyneo_flows.profiles import load_profile

    f = load_formulation(LIPF6)
    fit = PipelineFitMaker(known_params=str(KNOWN))
    flow = PhyneoElectrolyteMaker.from_profile(load_profile("standard"), fit_maker=fit).make(f)
    jobs = [j for j, _ in flow.iterflow()]
    stages = [j.metadata["stage"] for j in jobs]
    assert stages.index("fit") > max(i for i, s in enumerate(stages) if s == "sapt")
    assert stages.index("fit") < stages.index("md")
    fit_job = next(j for j in jobs if j.metadata["stage"] == "fit")
    md_job = next(j for j in jobs if j.metadata["stage"] == "md")
    assert md_job.metadata["generation"] == 1 and fit_job.metadata["generation"] == 1
    # the fit reads every SAPT job's output, and MD reads the fit's parameters
    sapt_uuids = {j.uuid for j in jobs if j.metadata["stage"] == "sapt"}
    assert {r.uuid for r in fit_job.input_references} == sapt_uuids | {jobs[0].uuid}
    assert fit_job.uuid in {r.uuid for r in md_job.input_references}


def test_every_profile_plugs_in_the_fit_and_quick_computes_its_own_monomers():
    from pathlib import Path

    from phyneo_flows.flows import PhyneoElectrolyteMaker
    from phyneo_flows.formulation import load_formulation
    from phyneo_flows.profiles import load_profile
    from phyneo_flows.qm.stage_jobs import MonomersStageMaker

    quick = PhyneoElectrolyteMaker.from_profile(load_profile("quick"))
    assert isinstance(quick.fit_maker, PipelineFitMaker) and quick.fit_maker.known_params is None
    assert isinstance(quick.monomers_maker, MonomersStageMaker) and not quick.fit_maker.property_files
    dmc = load_formulation(REPO_ROOT / "workflows/dmc.yaml")
    assert quick.monomers_maker.todo(["DMC"]) == (["DMC"], [])
    assert [Path(p).name for p in quick.fit_maker.extra_dimers] == ["sapt0_jun-cc-pvdz", "active"]
    assert all(Path(p).is_dir() for p in quick.fit_maker.extra_dimers)
    jobs = {j.metadata["stage"]: j for j in quick.make(dmc).jobs}
    assert jobs["monomers"].uuid in {r.uuid for r in jobs["fit"].input_references}
    assert "monomers" not in {j.metadata["stage"] for j in quick.make(dmc, until="sapt").jobs}
    for name in ("standard", "paper"):
        fit = PhyneoElectrolyteMaker.from_profile(load_profile(name)).fit_maker
        assert isinstance(fit, PipelineFitMaker) and load_params(fit.known_params).molecules.keys() >= {"EC", "Li+"}
        assert all(Path(p).is_file() for p in fit.property_files.values()) and "EC" in fit.property_files


def test_extra_dimers_join_the_training_data_only(tmp_path):
    """Committed dimers of the formulation's pair types become training data (marked targeted, scans renumbered
    past the stage's own), other pair types are left out, the stage's last scan stays the test set, the key
    changes with them, and dimers at another level are refused with the field named."""
    from phyneo_flows.errors import InputError
    from phyneo_flows.fitting.data import split_by_scan
    from phyneo_flows.fitting.pipeline import extra_training_dimers

    own, _ = sapt_records([sapt_doc({0, 1})])
    folder = REPO_ROOT / "fixtures/fitting/sapt0_jun-cc-pvdz"
    extra = extra_training_dimers([str(folder)], own, {"Li+", "EC"})
    n_ec = len(load_dimers(folder / "EC-EC.jsonl"))
    assert {r.pair_type for r in extra} == {"Li+-EC", "EC-EC"} and len(extra) == 120 + n_ec  # no PF6-, no DMC
    extra = extra_training_dimers([str(folder)], own, {"EC"})
    assert {r.pair_type for r in extra} == {"EC-EC"} and len(extra) == n_ec
    both = extra_training_dimers([str(LI_EC)], own, {"Li+", "EC"})
    assert all(r.targeted and r.scan >= 1000 for r in both)
    split = split_by_scan(own + both, test_scans=1, val_scans=0)
    assert {r.scan for r in split["test"]} == {max(r.scan for r in own)} and len(split["train"]) == 12 + 120
    plain = PipelineFitMaker()
    assert PipelineFitMaker(extra_dimers=[str(LI_EC)]).key(["k"]) != plain.key(["k"])
    other = tmp_path / "x.jsonl"
    other.write_text(LI_EC.read_text().replace('"jun-cc-pvdz"', '"aug-cc-pvdz"'))
    with pytest.raises(InputError, match="fit.extra_dimers"):
        extra_training_dimers([str(other)], own, {"Li+", "EC"})


@pytest.mark.slow
def test_the_fit_stage_trains_residual_ensembles_that_cut_the_ion_pair_error(tmp_path, phyneo):
    """Known parameters (frozen) scored on the 144 real Li+-PF6- SAPT0 dimers, and a residual ensemble trained
    on SAPT - physics with the fit's own whole-scan split: saved, reported per pair type, and on the held-out
    scans it at least halves the physics-only RMSE (the issue's criterion; measured with the committed parameters
    and this recipe, on the split the fit stage draws: session 15 2.32 -> 0.23 kJ/mol, session 14 2.43 -> 0.24)."""
    from phyneo_flows.fitting.residual import load_ensemble

    formulation = load_formulation(LIPF6).model_dump(mode="json")
    residual = {"pair_types": None, "channels": "coordination", "hidden": [16, 16], "max_epochs": 400,
                "patience": 60, "weight_decay": 1e-4}
    maker = PipelineFitMaker(known_params=str(KNOWN), residual=residual, work_dir=str(tmp_path))
    out = run(maker.make(box={}, sapt=[sapt_doc(key="sapt-li-pf6", path=LI_PF6, pair="Li+-PF6-")],
                         formulation=formulation, generation=2))
    assert out["generation"] == 2 and len(out["ensemble_dirs"]) == 1
    ens = load_ensemble(out["ensemble_dirs"][0])
    assert ens.config.pair_types == ("Li+-PF6-",) and ens.config.ensemble_size == 4
    m = out["residual_metrics"]["Li+-PF6-"]
    print("Li+-PF6- residual metrics", {k: v for k, v in m.items() if k != "directory"})
    assert m["n_train"] + m["n_val"] + m["n_test"] == 144 and m["n_test"] > 0
    assert m["test_rmse_kj_mol"] <= 0.5 * m["physics_only_test_rmse_kj_mol"], m
    pairs = out["pairs"]["Li+-PF6-"]
    assert pairs["test_rmse_kj_mol"] == pytest.approx(m["test_rmse_kj_mol"])
    assert pairs["physics_only_test_rmse_kj_mol"] == pytest.approx(m["physics_only_test_rmse_kj_mol"])
    assert maker.key(["sapt-li-pf6"]) != PipelineFitMaker(known_params=str(KNOWN)).key(["sapt-li-pf6"])
    # what `phyneo fit report` prints: the per-pair fields, with the residual on
    shown = json.loads(phyneo("fit", "report", "lipf6_ec_dmc", "--json").stdout)
    assert shown["generation"] == 2 and shown["ensemble_dirs"] == out["ensemble_dirs"]
    row = shown["pairs"]["Li+-PF6-"]
    assert row["n_train"] == 108 and row["n_test"] == 24
    assert row["test_rmse_kj_mol"] == pytest.approx(m["test_rmse_kj_mol"])
    assert shown["residual_metrics"]["Li+-PF6-"]["n_val"] == 12
