"""The pipeline's MD stage for real: a tiny DMC box with the generation-0 force field, NPT through jobflow,
then the same job again from its directory (resume) and from the store (reuse)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from jobflow import run_locally

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.md import checkpoint as ckpt
from phyneo_flows.md.jobs import MDStageMaker, auto_cutoff, literature_params
from phyneo_flows.md.trajectory import read_h5md
from phyneo_flows.store import memory_store
from phyneo_flows.testing import REPO_ROOT
from phyneo_flows.units import AVOGADRO


def tiny_md(tmp_path, npt_ps=0.2):
    return MDStageMaker(npt_ps=npt_ps, timestep_fs=1.0, report_interval=5, frames_per_chunk=4, cutoff_nm=0.4,
                        polarization="direct", minimise_iterations=50, checkpoint_interval_chunks=2,
                        temperature_k=298.15, work_dir=str(tmp_path / "md"))


def test_generation0_parameters_cover_the_species_and_name_what_is_missing():
    params = literature_params(["DMC"])
    assert set(params["molecules"]) == {"DMC"} and params["provenance"]["generation"] == 0
    with pytest.raises(Exception, match="no generation-0 parameters for O"):
        literature_params(["O"])
    assert auto_cutoff(3.0) == 0.9 and auto_cutoff(1.6) == pytest.approx(0.62)


@pytest.mark.slow
def test_npt_of_a_tiny_dmc_box_then_resume_and_reuse(tmp_path):
    store = memory_store()
    data = load_formulation(REPO_ROOT / "workflows/dmc.yaml").model_dump(mode="json")
    box_job = BoxMaker(n_atoms=96).make(data)  # 8 DMC in a ~1.04 nm box
    maker = tiny_md(tmp_path)
    md_job = maker.make(box_job.output)
    run_locally([box_job, md_job], store=store, log=False, ensure_success=True)
    doc = store.query_one({"uuid": md_job.uuid}, load=True)["output"]
    assert doc["stage"] == "md" and doc["n_atoms"] == 96 and doc["n_steps"] == maker.n_steps() == 200
    assert doc["trips"] == [] and doc["species"][0]["count"] == 8
    traj = read_h5md(doc["trajectory"])
    assert np.isfinite(traj["position"]).all() and traj["pressure_tensor"].shape[1:] == (3, 3)
    # density trace: the stored mass over the H5MD volumes, by the other route (DMC C3H6O3 = 90.078 amu)
    mass = 8 * (3 * 12.011 + 6 * 1.008 + 3 * 15.999)
    assert doc["total_mass_amu"] == pytest.approx(mass, rel=1e-3)
    rho = mass / traj["volume"] * 1e21 / AVOGADRO
    assert doc["traces"]["density_g_cm3"][-1] == pytest.approx(rho[-1], rel=1e-9)
    assert 0.5 < rho.mean() < 1.6  # a liquid, not a gas or a collapsed box
    # the temperature stays near the thermostat's (tiny box: wide fluctuations)
    assert 150 < traj["temperature"][len(traj["temperature"]) // 2:].mean() < 450

    # resume: the same stage asked for longer continues from the checkpoint of its directory
    longer = tiny_md(tmp_path, npt_ps=0.3)
    box = store.query_one({"uuid": box_job.uuid}, load=True)["output"]
    longer_dir = tmp_path / "md" / longer.key(box["input_hash"], "generation-0")
    longer_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(doc["directory"], longer_dir)
    step_before = ckpt.load(longer_dir / "checkpoint.npz")[1]["step"]
    job2 = longer.make(box)
    run_locally(job2, store=store, log=False, ensure_success=True)
    doc2 = store.query_one({"uuid": job2.uuid}, load=True)["output"]
    assert step_before == 200 and doc2["resumed_from_step"] == 200 and doc2["n_steps"] == 300
    traj2 = read_h5md(doc2["trajectory"])
    np.testing.assert_array_equal(traj2["position"][: len(traj["position"])], traj["position"])

    # reuse: the first stage again returns the stored document (no MD run)
    job3 = tiny_md(tmp_path).make(box)
    run_locally(job3, store=store, log=False, ensure_success=True)
    doc3 = store.query_one({"uuid": job3.uuid}, load=True)["output"]
    assert doc3["reused_from"] == md_job.uuid and doc3["trajectory"] == doc["trajectory"]



def test_hydrogen_mass_repartitioning_gives_a_density_run_and_no_transport(tmp_path):
    """HMR (allowed for density, never transport): masses moved to H, total kept, recorded in the document;
    the properties stage then reports the density and names why diffusion and viscosity are skipped."""
    from phyneo_flows.analysis.jobs import PropertiesMaker

    store = memory_store()
    data = load_formulation(REPO_ROOT / "workflows/dmc.yaml").model_dump(mode="json")
    box_job = BoxMaker(n_atoms=96).make(data)
    maker = MDStageMaker(npt_ps=0.24, timestep_fs=2.0, report_interval=2, frames_per_chunk=20, cutoff_nm=0.4,
                         polarization="direct", minimise_iterations=50, temperature_k=298.15,
                         hydrogen_mass_amu=3.024, work_dir=str(tmp_path / "md"))
    assert "hydrogen_mass_amu" in maker.protocol()
    assert "hydrogen_mass_amu" not in tiny_md(tmp_path).protocol()  # runs without it keep their keys
    md_job = maker.make(box_job.output)
    props = PropertiesMaker(n_bootstrap=10).make(md_job.output)
    run_locally([box_job, md_job, props], store=store, log=False, ensure_success=True)
    doc = store.query_one({"uuid": md_job.uuid}, load=True)["output"]
    masses = np.asarray(doc["species"][0]["atom_masses_amu"])
    symbols = ["C", "O", "C", "O", "O", "C"] + ["H"] * 6  # the DMC template's order
    assert np.allclose(masses[[i for i, s in enumerate(symbols) if s == "H"]], 3.024)
    assert masses.sum() == pytest.approx(3 * 12.011 + 6 * 1.008 + 3 * 15.999, rel=1e-4)
    assert doc["hydrogen_mass_amu"] == 3.024 and doc["timestep_ps"] == pytest.approx(0.002)
    traj = read_h5md(doc["trajectory"])
    assert np.isfinite(traj["position"]).all() and 100 < traj["temperature"].mean() < 600
    out = store.query_one({"uuid": props.uuid}, load=True)["output"]
    assert [p["name"] for p in out["properties"]] == ["density"]
    assert "hydrogen" in out["skipped"]["diffusion"] and "hydrogen" in out["skipped"]["viscosity"]
