"""The QM stages of the LiPF6/EC:DMC pipeline through the local Slurm cluster (FireWorks route), with a
reduced dimer count: box -> sampling -> SAPT0 of one dimer for two pair types, each job its own Slurm job,
results in the MongoDB JobStore, the password nowhere in files or documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cluster_helpers import assert_no_password, database_dump, files_text

from phyneo_flows.cluster import cli as cluster_cli
from phyneo_flows.cluster.config import load_cluster_config
from phyneo_flows.cluster.fireworks_route import jobstore_settings
from phyneo_flows.flows import PhyneoElectrolyteMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.profiles import Profile
from phyneo_flows.settings import Settings
from phyneo_flows.store import connected, get_store

ROOT = Path(__file__).resolve().parents[2]
REDUCED = {
    "name": "reduced",
    "box": {"atoms": 300},
    "sampling": {"poses_per_pair": 1, "cutoff_nm": 0.35, "scan_contacts_a": [3.0]},
    "sapt": {"method": "sapt0", "basis": "jun-cc-pvdz", "max_dimers_per_pair": 1, "pair_types": ["EC-Li+", "Li+-PF6-"]},
}


@pytest.mark.slow
def test_lipf6_qm_stages_on_slurm_with_a_reduced_dimer_count(slurm, mongo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHYNEO_MONGO_URI", mongo)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({
        "route": "fireworks", "partition": slurm, "workers": 2, "work_dir": str(tmp_path / "w $(touch pwned)"),
        "launchpad": {"database": "lp_qm"}, "jobstore_database": "js_qm",
        "resources": {"default": {"cpus": 1, "memory_mb": 1000, "walltime": "00:30:00"},
                      "qm": {"cpus": 1, "memory_mb": 2000, "walltime": "00:30:00"}}}))
    cfg = load_cluster_config(path)
    f = load_formulation(ROOT / "workflows/lipf6_ec_dmc.yaml")
    flow = PhyneoElectrolyteMaker.from_profile(Profile.model_validate(REDUCED)).make(f, until="sapt")
    assert [j.metadata["stage"] for j in flow.jobs] == ["box", "sampling", "sapt", "sapt"]
    states = cluster_cli.submit_flow(flow, cfg, wait=True, timeout=1800)
    out = capsys.readouterr()
    assert sorted(states.values()) == ["COMPLETED"] * 4

    store = connected(get_store(jobstore_settings(cfg, Settings(mongo_uri=mongo))))
    docs = {d["output"]["stage"] + d["output"].get("pair_type", ""): d["output"]
            for d in store.query({}, properties=["output"], load=True)}
    for pt in ("EC-Li+", "Li+-PF6-"):
        sapt = docs[f"sapt{pt}"]
        assert sapt["formulation"] == "lipf6_ec_dmc" and sapt["failures"] == [] and len(sapt["results"]) == 1
        r = sapt["results"][0]
        assert r["total"] == pytest.approx(r["electrostatics"] + r["exchange"] + r["induction"] + r["dispersion"],
                                           abs=1e-6)
        assert r["electrostatics"] < 0 and r["exchange"] > 0  # a contact pair: attraction and a repulsive wall
    # the ion pair at 3 A binds far more strongly than the ion-solvent pair (Coulomb between +1 and -1)
    assert docs["saptLi+-PF6-"]["results"][0]["total"] < docs["saptEC-Li+"]["results"][0]["total"]
    assert_no_password(out.out + out.err, "the submit output")
    assert_no_password(files_text(tmp_path), "job folders, scripts and logs")
    assert_no_password(database_dump(mongo, ["lp_qm", "js_qm"]), "the LaunchPad and JobStore documents")
    assert not (tmp_path / "pwned").exists()
