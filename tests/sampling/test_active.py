"""Active sampling with the saved Li+-PF6- residual ensemble (fixtures/fitting/residual_li_ec/ensemble_Lip_PF6_).

Real networks, real SAPT geometries. Every network call here is padded to 16 or 128 dimers of 8 atoms, so the
module compiles the networks twice; most of its time is ``load_ensemble`` (its first call compiles the
members' initialisation, 70-140 s on this busy 2-core machine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jobflow import Flow, run_locally
from scipy.spatial.transform import Rotation

from phyneo_flows.chem.jobs import box_document
from phyneo_flows.chem.packing import build_box
from phyneo_flows.errors import InputError
from phyneo_flows.fitting.data import load_dimers, split_by_scan
from phyneo_flows.formulation import load_formulation
from phyneo_flows.qm.models import Dimer as QMDimer
from phyneo_flows.sampling.active import (
    DEFAULT_MIN_DISTANCE,
    DEFAULT_THRESHOLD_KJ_MOL,
    disagreement_kj_mol,
    load_ensembles,
    needs_another_generation,
    select_by_disagreement,
)
from phyneo_flows.sampling.dimers import Dimer, com_scan, fingerprint
from phyneo_flows.sampling.jobs import DisagreementSamplingMaker
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store

ROOT = Path(__file__).resolve().parents[2]
ENSEMBLE = ROOT / "fixtures" / "fitting" / "residual_li_ec" / "ensemble_Lip_PF6_"
SAPT = ROOT / "fixtures" / "fitting" / "sapt0_jun-cc-pvdz" / "Li+-PF6-.jsonl"


@pytest.fixture(scope="module")
def ensemble():
    (ens,) = load_ensembles(ENSEMBLE)
    return ens


@pytest.fixture(scope="module")
def train():
    return split_by_scan(load_dimers(SAPT))["train"]


def li_around_pf6(record, contacts_a, seed: int = 0) -> list[Dimer]:
    """Li+ beside the SAPT geometry of PF6- in random directions, at the given closest contacts (Å)."""
    rng = np.random.default_rng(seed)
    pf6 = record.positions_b_nm
    out = []
    for k, contact in enumerate(contacts_a):
        u = rng.normal(size=3)
        li = pf6.mean(0) + 0.3 * u / np.linalg.norm(u)
        pose = Dimer("Li+", "PF6-", ["Li"], list(record.symbols_b), li[None], pf6.copy(), 1, -1, {"k": k})
        out += com_scan(pose, [contact])
    return out


def tag(d: Dimer) -> tuple[int, bool]:
    return d.source["k"], d.source.get("copy", False)


@pytest.fixture(scope="module")
def far(train):
    """8 poses at 1.0 Å (below the 1.4 Å closest contact of every scan) and 8 at 2.0 Å in directions no scan
    takes."""
    return li_around_pf6(train[0], [1.0] * 8 + [2.0] * 8)


def test_disagreement_is_larger_away_from_the_training_data(ensemble, train, far):
    std_train = disagreement_kj_mol(train, ensemble)
    std_far = disagreement_kj_mol(far, ensemble)
    # measured (kJ/mol; the ensemble of session 13, 108 training dimers): training mean 0.077, max 0.239; the 1.0 A
    # poses mean 2.762 (36x; 0.77-6.21), the 2.0 A poses mean 0.371 (4.8x; 0.20-0.77). The session-2 ensemble (84
    # training dimers): 0.173, 2.156 (12x), 0.535 (3.1x)
    assert std_train.shape == (108,) and np.all(np.isfinite(std_train))
    assert std_train.mean() == pytest.approx(0.077, abs=0.01)
    assert std_far[:8].mean() > 5 * std_train.mean()
    assert std_far[8:].mean() > 2 * std_train.mean()
    # a rigid motion of the whole dimer changes nothing
    rot = Rotation.from_euler("xyz", [0.4, -1.2, 2.1])
    moved = [Dimer(d.species_a, d.species_b, d.symbols_a, d.symbols_b, rot.apply(d.positions_a_nm) + 0.7,
                   rot.apply(d.positions_b_nm) + 0.7, d.charge_a, d.charge_b) for d in far]
    assert np.allclose(disagreement_kj_mol(moved, ensemble), std_far, atol=1e-8)


def test_selection_takes_the_largest_disagreement_and_skips_a_repeated_pose(ensemble, far):
    std = disagreement_kj_mol(far, ensemble)
    top = int(np.argmax(std))
    # a rotated copy of the most uncertain pose: same fingerprint, same disagreement
    rot = Rotation.from_euler("zyx", [1.0, 0.3, -0.5])
    d = far[top]
    copy = Dimer(d.species_a, d.species_b, d.symbols_a, d.symbols_b, rot.apply(d.positions_a_nm),
                 rot.apply(d.positions_b_nm), 1, -1, d.source | {"copy": True})
    drop = int(np.argmin(std))
    candidates = [c for k, c in enumerate(far) if k != drop] + [copy]
    assert np.allclose(fingerprint(copy), fingerprint(d))
    li_li = Dimer("Li+", "Li+", ["Li"], ["Li"], np.zeros((1, 3)), np.array([[0.3, 0.0, 0.0]]), 1, 1)

    sel = select_by_disagreement(candidates + [li_li], ensemble, 3, threshold_kj_mol=0.0)
    assert len(sel.chosen) == 3 and sel.chosen[0].source["k"] == d.source["k"]
    assert sum(c.source["k"] == d.source["k"] for c in sel.chosen) == 1  # the repeat is skipped
    assert sel.std_kj_mol == sorted(sel.std_kj_mol, reverse=True)
    assert [c.source["disagreement_kj_mol"] for c in sel.chosen] == sel.std_kj_mol
    assert "disagreement_kj_mol" not in d.source  # the candidates are left as they were
    assert sel.n_candidates == 16 and sel.n_uncovered == 1
    assert sel.max_std_kj_mol == pytest.approx(std.max()) and sel.per_pair["Li+-PF6-"]["n_candidates"] == 16
    # greedy: the chosen are >= min_distance apart, and each more uncertain candidate left out is a near
    # repeat (same kind of pose, e.g. Li+ at 1 A from one F) of one chosen before it
    fps = np.array([fingerprint(c) for c in candidates])
    scale = np.linalg.norm(fps, axis=1).mean()
    chosen_fps = np.array([fingerprint(c) for c in sel.chosen])
    dist = np.linalg.norm(chosen_fps[:, None] - chosen_fps[None], axis=-1) / scale
    assert dist[np.triu_indices(3, 1)].min() >= DEFAULT_MIN_DISTANCE
    cand_std = disagreement_kj_mol(candidates, ensemble)
    taken = {tag(c) for c in sel.chosen}
    for c, s, f in zip(candidates, cand_std, fps, strict=True):
        if s > sel.std_kj_mol[-1] and tag(c) not in taken:
            assert min(np.linalg.norm(f - g) / scale for g, t in zip(chosen_fps, sel.std_kj_mol, strict=True)
                       if t >= s) < DEFAULT_MIN_DISTANCE

    plain = select_by_disagreement(candidates, ensemble, 3, threshold_kj_mol=0.0, min_distance=0.0)
    assert plain.std_kj_mol == pytest.approx(np.sort(cand_std)[::-1][:3].tolist(), abs=1e-12)
    assert [c.source["k"] for c in plain.chosen[:2]] == [d.source["k"]] * 2  # pose and copy: no diversity
    assert len(select_by_disagreement(candidates, ensemble, 1, threshold_kj_mol=0.0).chosen) == 1
    assert len(select_by_disagreement(candidates, ensemble, 100, threshold_kj_mol=0.0, min_distance=0.0).chosen) == 16
    median = float(np.median(cand_std))
    above = select_by_disagreement(candidates, ensemble, 100, threshold_kj_mol=median, min_distance=0.0)
    assert len(above.chosen) == above.per_pair["Li+-PF6-"]["n_above"] == int(np.sum(cand_std > median))
    assert min(above.std_kj_mol) > median


def test_another_generation_only_above_the_threshold(ensemble, train, far):
    std_train = disagreement_kj_mol(train, ensemble)
    std_far = disagreement_kj_mol(far, ensemble)
    assert DEFAULT_THRESHOLD_KJ_MOL == 1.0
    assert not needs_another_generation(std_train)  # its own scans: at most 0.92 kJ/mol
    assert needs_another_generation(std_far)
    assert not needs_another_generation(std_far, threshold_kj_mol=float(std_far.max()))
    assert not needs_another_generation([np.nan, np.nan])  # nothing covered: nothing to learn
    with pytest.raises(InputError) as err:
        needs_another_generation(std_far, threshold_kj_mol=-1.0)
    assert err.value.field == "threshold_kj_mol"
    calm = select_by_disagreement(far[8:], ensemble, 2, threshold_kj_mol=float(std_far.max()))
    assert calm.chosen == [] and not calm.another_generation
    assert "does not exceed" in calm.message


def test_bad_settings_name_their_field(far, ensemble):
    with pytest.raises(InputError) as err:
        DisagreementSamplingMaker(ensemble_dir=str(ENSEMBLE), n_per_pair=0)
    assert err.value.field == "n_per_pair"
    with pytest.raises(InputError) as err:
        DisagreementSamplingMaker(ensemble_dir=str(ENSEMBLE / "missing"))
    assert err.value.field == "ensemble_dir"
    with pytest.raises(InputError) as err:
        load_ensembles([])
    assert err.value.field == "ensemble_dir"
    with pytest.raises(InputError) as err:
        select_by_disagreement(far, ensemble, 0)
    assert err.value.field == "n_per_pair"


def test_maker_scans_the_most_uncertain_poses_of_a_box_for_the_next_generation(ensemble):
    box = box_document(build_box(load_formulation("workflows/lipf6_ec_dmc.yaml"), n_atoms=300, seed=0),
                       key="box-300").model_dump()
    # an MD frame of the box (molecules whole, as MDStageMaker stores them): here the box moved as a whole
    frame = {"final_positions_nm": (np.asarray(box["positions_nm"]) + 0.05).tolist(),
             "final_box_nm": (np.eye(3) * box["box_length_nm"]).tolist(), "input_hash": "frame"}
    contacts = (1.8, 2.5, 4.0)
    eager = DisagreementSamplingMaker(ensemble_dir=str(ENSEMBLE), n_per_pair=2, threshold_kj_mol=0.0,
                                      scan_contacts_a=contacts).make(box, 0)
    calm = DisagreementSamplingMaker(ensemble_dir=[str(ENSEMBLE)], scan_contacts_a=contacts).make(box, 0, frame)
    store = get_store(get_settings())
    run_locally(Flow([eager, calm]), store=store, log=False, ensure_success=True, raise_immediately=True)
    store.connect()
    doc = store.query_one({"uuid": eager.uuid}, load=True)["output"]
    assert doc["generation"] == 1 and doc["stage"] == "sampling"
    summary = doc["disagreement"]
    assert summary["another_generation"] and summary["per_pair"].keys() == {"Li+-PF6-"}
    n_poses = summary["per_pair"]["Li+-PF6-"]["n_chosen"]
    assert 1 <= n_poses <= 2 and doc["counts"] == {"Li+-PF6-": 3 * n_poses}
    for item in doc["dimers"]:
        dimer = QMDimer.model_validate(item["dimer"])  # the SAPT stage takes it as it is
        a, b = np.array(dimer.monomer_a.coordinates_nm), np.array(dimer.monomer_b.coordinates_nm)
        assert 10 * np.min(np.linalg.norm(a[:, None] - b[None], axis=-1)) == pytest.approx(item["closest_contact_a"])
        assert item["source"]["scan_contact_A"] in contacts
        assert 0 < item["source"]["disagreement_kj_mol"] <= summary["max_std_kj_mol"]
        assert item["source"]["ensemble_generation"] == 0
    quiet = store.query_one({"uuid": calm.uuid}, load=True)["output"]
    assert quiet["generation"] == 1 and quiet["dimers"] == [] and quiet["counts"] == {}
    assert quiet["disagreement"]["max_std_kj_mol"] == pytest.approx(summary["max_std_kj_mol"], abs=1e-9)
    assert not quiet["disagreement"]["another_generation"]
    assert "does not exceed the threshold 1 kJ/mol" in quiet["disagreement"]["message"]
