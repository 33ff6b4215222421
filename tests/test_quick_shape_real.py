"""The quick profile's shape with every engine real (slow, a few minutes): pure DMC through `phyneo run` with
the stages the quick profile runs, shrunk: packmol box, sampling, psi4 SAPT0 (STO-3G so that it takes seconds),
PySCF monomer properties of DMC computed in the flow (no committed file, no known parameters), a physics fit
of DMC's Slater terms to those dimers, NPT MD with hydrogen mass repartitioning at 2 fs, density beside
experiment, the HTML report; then a rerun that computes nothing."""

from __future__ import annotations

import pytest

from phyneo_flows.settings import get_settings
from phyneo_flows.store import connected, get_store

pytestmark = pytest.mark.slow

PROFILE = """name: tiny-quick
box: {atoms: 96}
sampling: {poses_per_pair: 2, cutoff_nm: 0.5, scan_contacts_a: [1.84, 2.71, 4.0]}
sapt: {method: sapt0, basis: sto-3g}
monomers: {enabled: true, method: hf, basis: sto-3g}
fit: {enabled: true, settings: {steps: 100, test_scans: 1, val_scans: 0}}
md: {npt_ps: 0.4, timestep_fs: 2.0, hydrogen_mass_amu: 3.024, induced_tolerance_debye: 1.0e-5,
     report_interval: 2, frames_per_chunk: 20, minimise_iterations: 20, cutoff_nm: 0.4}
"""


def test_pure_dmc_runs_every_quick_stage_for_real(tmp_path, phyneo):
    (tmp_path / "tiny.yaml").write_text(PROFILE)
    from phyneo_flows.testing import REPO_ROOT

    dmc = str(REPO_ROOT / "workflows/dmc.yaml")
    phyneo("run", dmc, "--profile", str(tmp_path / "tiny.yaml"), timeout=2400)
    store = connected(get_store(get_settings()))
    docs = {d["output"]["stage"]: d["output"] for d in
            store.query({"output.formulation": "dmc"}, properties=["output"], load=True)}
    assert {"box", "sampling", "sapt", "monomers", "fit", "md", "properties"} <= set(docs)
    mono = docs["monomers"]
    assert set(mono["monomers"]) == {"DMC"} and mono["basis"] == "sto-3g" and not mono["failures"]
    sapt = docs["sapt"]
    assert len(sapt["results"]) == 6 and not sapt["failures"]
    fit = docs["fit"]
    assert fit["fitted_molecules"] == ["DMC"] and fit["n_dimers"] == 6 and not fit["reused_molecules"]
    assert fit["pairs"]["DMC-DMC"]["n_test"] == 3
    assert "computed" in fit["params"]["provenance"]["properties"]["DMC"]
    md = docs["md"]
    assert md["hydrogen_mass_amu"] == 3.024 and md["n_steps"] == 200 and md["ff_key"] == fit["input_hash"]
    props = docs["properties"]
    density = [p for p in props["properties"] if p["name"] == "density"][0]
    assert 0.3 < density["value"] < 2.0 and density["experiment"]["value"] == pytest.approx(1.063)
    assert "hydrogen" in props["skipped"]["viscosity"]
    phyneo("report", "dmc", "-o", str(tmp_path / "report"))
    html = (tmp_path / "report" / "dmc.html").read_text()
    assert "1.063" in html and "monomers" in html
    # a rerun computes nothing
    n_docs = store.count({"output.formulation": "dmc", "output.reused_from": None})
    phyneo("run", dmc, "--profile", str(tmp_path / "tiny.yaml"))
    store = connected(get_store(get_settings()))
    assert store.count({"output.formulation": "dmc", "output.reused_from": None}) == n_docs
