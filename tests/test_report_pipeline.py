"""The report's pipeline sections from what the stages store: fit parity and errors, MD traces, cost."""

from __future__ import annotations

from jobflow import job, run_locally

from phyneo_flows.report import collect, render_html, render_markdown
from phyneo_flows.schemas import ExperimentValue, PropertiesDocument, PropertyRecord
from phyneo_flows.store import memory_store


@job(data=["parity"])
def fake_fit():
    # the fields docs/pipeline.md asks a FitDocument to carry (orchestration only: nothing fitted)
    return {"formulation": "dmc", "stage": "fit", "generation": 1, "input_hash": "f", "wall_time_s": 1800.0,
            "cores": 2, "pair_metrics": {"DMC-DMC": {"rmse_kj_mol": 1.25, "mae_kj_mol": 0.9, "n": 3}},
            "parity": {"DMC-DMC": {"reference_kj_mol": [-10.0, -5.0, 2.0], "predicted_kj_mol": [-9.0, -5.5, 2.4]}},
            "params": {"provenance": {"generator": "phyneo_flows.fitting", "sapt": "sapt0/jun-cc-pvdz"}}}


@job(data=["traces"])
def fake_md():
    return {"formulation": "dmc", "stage": "md", "generation": 1, "input_hash": "m", "wall_time_s": 7200.0,
            "cores": 2, "n_atoms": 420, "npt_ps": 50.0, "timestep_ps": 0.001, "cutoff_nm": 0.6, "backend": "jax",
            "ns_per_day": 0.6, "ff_key": "f", "trips": [],
            "config": {"ensemble": "npt", "temperature_k": 298.15, "pressure_bar": 1.0},
            "traces": {"time_ps": [0.0, 1.0, 2.0], "density_g_cm3": [1.0, 1.05, 1.06],
                       "potential_energy_kj_mol": [-10.0, -12.0, -12.5], "temperature_k": [290.0, 300.0, 298.0]}}


@job(data=["results"])
def fake_sapt():
    rows = [{"closest_contact_a": d, "total": -5.0 + d} for d in (1.4, 3.8, 6.2)]
    return {"formulation": "dmc", "stage": "sapt", "generation": 0, "input_hash": "s", "wall_time_s": 90.0,
            "cores": 2, "pair_type": "DMC-DMC", "method": "sapt0", "basis": "jun-cc-pvdz", "results": rows,
            "failures": [{"error": "did not converge"}]}


@job
def fake_properties():
    exp = ExperimentValue(value=1.063, unit="g/cm^3", source="Xu, Chem. Rev. 2004", temperature_k=298.2)
    return PropertiesDocument(formulation="dmc", generation=1, wall_time_s=36.0, cores=1, properties=[
        PropertyRecord(name="density", value=1.058, uncertainty=0.004, unit="g/cm^3", method="NPT", experiment=exp,
                       details={"fit_window_ps": [25.0, 49.98]})])


@job
def fake_reused_md():
    return {"formulation": "dmc", "stage": "md", "generation": 1, "input_hash": "m", "wall_time_s": 7200.0,
            "cores": 2, "reused_from": "someone"}


def test_report_shows_fit_parity_md_traces_and_cost_per_stage():
    store = memory_store()
    run_locally([fake_sapt(), fake_fit(), fake_md(), fake_properties(), fake_reused_md()], store=store, log=False)
    data = collect(store, "dmc")
    md = render_markdown(data)
    assert "## Force field generation 1: fit" in md and "| pair type | mae_kj_mol | n | rmse_kj_mol |" in md
    assert "| DMC-DMC | 0.9 | 3 | 1.25 |" in md
    assert "generator: phyneo_flows.fitting" in md
    # the report states how many SAPT dimers the run computed, over which contacts, and what failed
    assert "| DMC-DMC | 0 | sapt0/jun-cc-pvdz | 3 | 1 | 1.40-6.20 |" in md
    assert "420 atoms, 50 ps of NPT at 298.1 K" in md
    assert "| density | 1.058 ± 0.004 | g/cm^3 | NPT | 25.0-50.0 | 1.063 |" in md
    costs = {c["stage"]: c for c in data.stage_costs}
    # 2 cores for 2 h = 4 core-hours; the reused MD record costs nothing
    assert costs["md"]["core_hours"] == 4.0 and costs["md"]["jobs"] == 2 and costs["md"]["reused"] == 1
    assert costs["fit"]["core_hours"] == 1.0 and "| md | 2 | 1 | 7200.0 | 4.000 |" in md
    page = render_html(data)
    assert page.count("<img") == 3 and "fit parity" in page and "MD traces" in page
