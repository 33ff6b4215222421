"""The ``phyneo`` command as a user runs it: separate processes sharing the embedded database."""

import json

import pytest

from phyneo_flows.testing import run_phyneo as phyneo


def stored(data_dir) -> list:
    return json.loads(phyneo("query", "--json", data_dir=data_dir).stdout)


def test_run_stores_and_another_process_queries(isolated_data_dir):
    first = phyneo("run", "workflows/dmc.yaml", "--until", "sampling", data_dir=isolated_data_dir)
    assert "finished" in first.stdout
    progress = [line.split()[1:3] for line in first.stderr.splitlines() if line.split()[2:3] in (["started"],
                                                                                                 ["finished"])]
    assert progress == [["box", "started"], ["box", "finished"], ["sampling", "started"], ["sampling", "finished"]], \
        first.stderr  # one line per job as it starts and ends, with its stage
    records = stored(isolated_data_dir)
    assert [(r["output"]["formulation"], r["output"]["stage"]) for r in records] == [("dmc", "box"),
                                                                                     ("dmc", "sampling")]
    box = records[0]["output"]
    assert box["n_atoms"] == 408 and box["composition"]["counts"][0]["species"] == "DMC"
    by_name = json.loads(phyneo("query", "--formulation", "dmc", "--job", "dmc box", "--json",
                                data_dir=isolated_data_dir).stdout)
    assert len(by_name) == 1
    assert json.loads(phyneo("query", "--formulation", "nope", "--json", data_dir=isolated_data_dir).stdout) == []
    again = phyneo("run", "workflows/dmc.yaml", "--until", "sampling", data_dir=isolated_data_dir)
    assert "already in the database" in again.stdout
    assert len(stored(isolated_data_dir)) == 2
    assert "dmc" in phyneo("status", data_dir=isolated_data_dir).stdout


def test_build_box_writes_pdb(tmp_path, isolated_data_dir):
    out = tmp_path / "box.pdb"
    proc = phyneo("build-box", "workflows/lipf6_ec_dmc.yaml", "--atoms", "600", "-o", str(out),
                  data_dir=isolated_data_dir)
    assert out.read_text().count("HETATM") == pytest.approx(600, abs=20)
    assert "mol/L" in proc.stdout


BAD = {
    "smiles": "solvents:\n  - {species: 'C1CC', fraction: 1}\n",
    "name": "solvents:\n  - {species: ECX, fraction: 1}\n",
    "conc": "solvents:\n  - {species: EC, fraction: 1}\nsalts:\n  - {cation: Li+, anion: PF6-, concentration: -1 M}\n",
    "ratio": "solvents:\n  - {species: EC, fraction: 0}\n",
    "unit": "temperature: 300 F\nsolvents:\n  - {species: EC, fraction: 1}\n",
    "balance": "solvents:\n  - {species: EC, fraction: 1}\nsalts:\n  - {cation: Li+, anion: Na+, concentration: 1}\n",
    "small": "size: {atoms: 12}\nsolvents:\n  - {species: EC, fraction: 1}\nsalts:\n"
             "  - {cation: Li+, anion: PF6-, concentration: 1}\n",
    "pack": "density: 3 g/cm3\nsize: {atoms: 240}\nsolvents:\n  - {species: DMC, fraction: 1}\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_and_writes_nothing(case, tmp_path, isolated_data_dir):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad_{case}\n" + BAD[case])
    # the standard profile keeps the formulation's own size
    proc = phyneo("run", str(path), "--profile", "standard", data_dir=isolated_data_dir, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert stored(isolated_data_dir) == []


def test_dry_run_lists_every_stage(isolated_data_dir):
    proc = phyneo("run", "workflows/lipf6_ec_dmc.yaml", "--profile", "standard", "--dry-run",
                  data_dir=isolated_data_dir)
    lines = proc.stdout.splitlines()
    assert sum(line.split()[0] == "sapt" for line in lines) == 10  # every pair of EC, DMC, Li+, PF6-
    assert any("Li+-PF6-" in line for line in lines) and stored(isolated_data_dir) == []


def test_unknown_profile_is_a_clear_error(isolated_data_dir):
    proc = phyneo("run", "workflows/dmc.yaml", "--profile", "huge", data_dir=isolated_data_dir, check=False)
    assert proc.returncode == 2 and "--profile" in proc.stderr


def test_query_by_property(isolated_data_dir):
    from jobflow import job, run_locally

    from phyneo_flows.schemas import ExperimentValue, PropertiesDocument, PropertyRecord
    from phyneo_flows.settings import get_settings
    from phyneo_flows.store import get_store

    @job
    def predicted():
        exp = ExperimentValue(value=1.063, unit="g/cm3", source="test table", temperature_k=298.2)
        return PropertiesDocument(formulation="dmc", properties=[
            PropertyRecord(name="density", value=1.05, uncertainty=0.004, unit="g/cm3", method="NPT", experiment=exp),
            PropertyRecord(name="viscosity", value=0.6, uncertainty=0.05, unit="mPa s", method="Green-Kubo")])

    j = predicted()
    run_locally(j, store=get_store(get_settings()), log=False)
    rows = json.loads(phyneo("query", "--formulation", "dmc", "--property", "density", "--json",
                             data_dir=isolated_data_dir).stdout)
    assert len(rows) == 1
    row = rows[0]
    assert (row["value"], row["uncertainty"], row["unit"], row["method"]) == (1.05, 0.004, "g/cm3", "NPT")
    assert row["experiment"]["value"] == 1.063 and row["job_id"] == j.uuid
    none = json.loads(phyneo("query", "--formulation", "dmc", "--property", "conductivity", "--json",
                             data_dir=isolated_data_dir).stdout)
    assert none == []
