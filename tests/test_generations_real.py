"""Later generations with every engine real (slow): LiPF6 in EC through `phyneo run` with a tiny profile whose
fit trains residual ensembles and whose active section always asks for another generation (threshold 0), so
the flow must grow once, by psi4 SAPT0 of the dimers the real ensemble picked, a refit, MD and properties, and
stop at the cap."""

from __future__ import annotations

import json

import pytest

from phyneo_flows.settings import get_settings
from phyneo_flows.store import connected, get_store
from phyneo_flows.testing import REPO_ROOT

pytestmark = pytest.mark.slow

PROFILE = f"""name: tiny-active
box: {{atoms: 200}}
sampling: {{poses_per_pair: 2, cutoff_nm: 0.5, scan_contacts_a: [2.0, 3.5]}}
sapt: {{method: sapt0, basis: jun-cc-pvdz, pair_types: [Li+-PF6-]}}
md: {{npt_ps: 0.1, report_interval: 5, frames_per_chunk: 4, minimise_iterations: 10}}
fit:
  enabled: true
  known_params: {REPO_ROOT / "fixtures/fitting/params/params.json"}
  residual: {{channels: coordination, hidden: [8, 8], ensemble_size: 2, max_epochs: 40, patience: 40}}
active: {{enabled: true, max_generations: 2, n_per_pair: 1, threshold_kj_mol: 0.0, cutoff_nm: 0.8}}
"""
FORMULATION = """name: lipf6_ec
temperature: 298.15 K
solvents: [{species: EC, fraction: 1.0}]
salts: [{cation: Li+, anion: PF6-, concentration: 2.0 mol/L}]
"""


def test_a_real_flow_grows_one_generation_and_stops_at_the_cap(tmp_path, phyneo):
    (tmp_path / "tiny.yaml").write_text(PROFILE)
    (tmp_path / "lipf6_ec.yaml").write_text(FORMULATION)
    phyneo("run", str(tmp_path / "lipf6_ec.yaml"), "--profile", str(tmp_path / "tiny.yaml"))
    store = connected(get_store(get_settings()))
    docs = list(store.query({"output.formulation": "lipf6_ec"}, properties=["uuid", "output", "metadata"],
                            load=True))

    def stage(name):
        return sorted((d for d in docs if d["output"]["stage"] == name), key=lambda d: d["output"]["generation"])

    decisions = stage("generation")
    assert [(d["output"]["generation"], d["output"]["another_generation"]) for d in decisions] == [(1, True),
                                                                                                 (2, False)]
    assert "cap" in decisions[-1]["output"]["reason"]
    sapt = stage("sapt")
    assert [len(s["output"]["results"]) for s in sapt] == [4, 2] and all(not s["output"]["failures"] for s in sapt)
    fits = stage("fit")
    assert [f["output"]["n_dimers"] for f in fits] == [4, 6]
    assert all(len(f["output"]["ensemble_dirs"]) == 1 for f in fits)
    # the generation-2 scan is training data: the held-out scans stay those of generation 1
    assert fits[1]["output"]["split"]["val"] == fits[0]["output"]["split"]["val"]
    mds = stage("md")
    assert [m["output"]["generation"] for m in mds] == [1, 2]
    assert mds[0]["output"]["ff_key"] != mds[1]["output"]["ff_key"]
    assert len(stage("properties")) == 2
    # the picked dimers carry the spread of the ensemble that picked them
    new = [r for r in sapt[1]["output"]["results"]]
    assert all(r["source"]["ensemble_generation"] == 1 and r["source"]["disagreement_kj_mol"] > 0 for r in new)
    # a rerun recomputes nothing: every job reads its stored output
    phyneo("run", str(tmp_path / "lipf6_ec.yaml"), "--profile", str(tmp_path / "tiny.yaml"))
    store = connected(get_store(get_settings()))
    again = list(store.query({"output.formulation": "lipf6_ec", "output.reused_from": None},
                             properties=["uuid"]))
    assert len(again) == len(docs), json.dumps([d["output"]["stage"] for d in docs])
