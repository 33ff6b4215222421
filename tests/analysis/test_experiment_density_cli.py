"""Experiment table, density and the `analyze viscosity` command."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from phyneo_flows.analysis.cli import app
from phyneo_flows.analysis.density import density
from phyneo_flows.analysis.experiment import load_experiments, lookup
from phyneo_flows.errors import InputError
from tests.analysis import lj
from tests.analysis.synthetic import ar1


def test_required_experimental_values_with_sources():
    want = [("DMC", "density", 298.2, 1.063), ("PC", "density", 298.0, 1.199), ("PC", "viscosity", 298.0, 2.53),
            ("EC", "viscosity", 313.0, 1.90), ("DMC", "viscosity", 293.0, 0.59),
            ("1.0 M LiPF6 in EC:DMC 1:1 w/w", "conductivity", 298.0, 11.8)]
    for system, prop, t, value in want:
        hits = lookup(system, prop, t)
        assert hits and hits[0].value == value and hits[0].source
    assert "Landesfeind" in lookup("1.0 M LiPF6 in EC:DMC 1:1 w/w", "conductivity")[0].source


def test_user_table_extends_and_overrides(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("entries:\n  - {system: DMC, property: density, value: 1.07, unit: g/cm^3, temperature_k: 298.2,"
                 " source: my lab}\n  - {system: EMC, property: density, value: 1.006, unit: g/cm^3,"
                 " temperature_k: 298.0, source: my lab}\n")
    table = load_experiments(f)
    assert lookup("DMC", "density", 298.2, extra_path=f)[0].value == 1.07
    assert any(e.system == "EMC" for e in table)
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - {system: X, value: 1}\n")
    with pytest.raises(InputError):
        load_experiments(bad)


def test_density_of_water_box_with_transient():
    # 1000 waters (18.01528 g/mol) at 0.997 g/cm^3 occupy 1000*18.01528/(0.997*602.214076) nm^3
    rng = np.random.default_rng(18)
    v_eq = 1000 * 18.01528 / (0.997 * 602.214076)
    t = np.arange(4000)
    vols = v_eq * (1 + 0.05 * np.exp(-t / 200.0)) + 0.05 * ar1(4000, 0.8, rng)
    res = density(1000 * 18.01528, vols, dt_ps=1.0)
    assert res.unit == "g/cm^3"
    assert res.value == pytest.approx(0.997, abs=max(4 * res.uncertainty, 1e-4))
    assert res.fit_window[0] > 400  # transient dropped


def test_cli_viscosity_json_on_lj_fixture(tmp_path):
    data = lj.load()
    f = tmp_path / "p.npy"
    np.save(f, np.concatenate(data["pressure_tensors"]))  # runs end to end: one long series
    runner = CliRunner()
    out = runner.invoke(app, ["viscosity", "--pressure-tensor", str(f), "--dt-ps", str(data["stress_dt_ps"]),
                              "--volume-nm3", str(data["volume_nm3"]), "--temperature-k",
                              str(data["temperature_k"]), "--json"])
    assert out.exit_code == 0, out.output
    js = json.loads(out.output)
    assert js["viscosity_mpa_s"] / lj.ETA_MPA_S == pytest.approx(lj.MEIER_ETA, rel=0.10)
    assert js["uncertainty_mpa_s"] / js["viscosity_mpa_s"] < 0.05


def test_cli_rejects_bad_input(tmp_path):
    runner = CliRunner()
    f = tmp_path / "p.npy"
    np.save(f, np.zeros((100, 3)))
    args = ["viscosity", "--pressure-tensor", str(f), "--dt-ps", "0.01", "--volume-nm3", "27",
            "--temperature-k", "300"]
    out = runner.invoke(app, args)
    assert isinstance(out.exception, InputError) and "shape" in str(out.exception)
    np.save(f, np.zeros((100, 3, 3)))
    out = runner.invoke(app, args[:4] + ["-0.01"] + args[5:])
    assert isinstance(out.exception, InputError) and "--dt-ps" in str(out.exception)
    out = runner.invoke(app, args[:2] + [str(tmp_path / "missing.npy")] + args[3:])
    assert isinstance(out.exception, InputError)
