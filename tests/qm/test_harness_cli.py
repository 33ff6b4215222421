"""``phyneo qm sapt``: bad input fails before psi4 starts; a real run prints the JSON the issue asks for."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from phyneo_flows.errors import InputError
from phyneo_flows.qm.cli import app
from phyneo_flows.testing import run_phyneo

WATER_CA = """4
water Ca2+ (psi4 tests/sapt-ecp)
H -0.803001 1.098737 0.000360
H -0.919454 -1.089722 0.000521
O -0.035537 -0.067631 0.000218
Ca 2.281447 -0.004247 -0.000154
"""


def _no_subprocess(*args, **kwargs):
    raise AssertionError(f"an engine was started: {args}")


@pytest.fixture
def dimer_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYNEO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "dimer.xyz"
    path.write_text(WATER_CA)
    return path


@pytest.mark.parametrize(("args", "field"), [
    (["--split", "4"], "split"),
    (["--split", "3", "--charges", "0,1"], "multiplicity"),  # Ca+ has an odd electron count
    (["--split", "3", "--charges", "0,2", "--basis", "nope-basis"], "basis"),
    (["--split", "3", "--charges", "0,2", "--method", "ccsd"], "method"),
    (["--split", "3", "--charges", "0;2"], "--charges"),
    (["--split", "3", "--charges", "0,2", "--option", "maxiter"], "--option"),
])
def test_bad_arguments_fail_before_psi4_starts(dimer_file, monkeypatch, args, field):
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    result = CliRunner().invoke(app, ["sapt", str(dimer_file), *args])
    assert isinstance(result.exception, InputError), result.output
    assert field in result.exception.field


def test_bad_input_exits_with_code_2_in_a_fresh_process(dimer_file, tmp_path):
    proc = run_phyneo("qm", "sapt", str(dimer_file), "--split", "9", data_dir=tmp_path / "data", check=False)
    assert proc.returncode == 2
    assert "split" in proc.stderr


FAKE_PSI4 = """#!/bin/sh
touch "{marker}"
exit 1
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("psi4") is None, reason="psi4 is not installed")
def test_second_cli_request_is_read_from_the_store_without_starting_psi4(dimer_file, tmp_path):
    args = ("qm", "sapt", str(dimer_file), "--split", "3", "--charges", "0,2", "--basis", "3-21g", "--json",
            "--cache", "--threads", "2")
    first = json.loads(run_phyneo(*args, "--option", "freeze_core=true", "--option", "e_convergence=10",
                                  "--option", "d_convergence=10", data_dir=tmp_path / "data").stdout)
    assert first["units"] == "kJ/mol" and first["engine"] == "psi4" and first["version"].startswith("1.3")
    assert set(first["components"]) == {"electrostatics", "exchange", "induction", "delta_hf", "dispersion",
                                        "total"}
    # a psi4 that leaves a mark and fails, installed like Debian's (its metadata says the same version)
    fake = tmp_path / "prefix" / "bin" / "psi4"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PSI4.format(marker=tmp_path / "started"))
    fake.chmod(0o755)
    metadata = tmp_path / "prefix" / "lib" / "x86_64-linux-gnu" / "psi4" / "metadata.py"
    metadata.parent.mkdir(parents=True)
    metadata.write_text(f"__version__ = '{first['version']}'\n")
    second = json.loads(run_phyneo(*args, "--option", "d_convergence=10", "--option", "e_convergence=10",
                                   "--option", "FREEZE_CORE=True", data_dir=tmp_path / "data",
                                   env={"PHYNEO_PSI4": str(fake)}).stdout)
    assert not (tmp_path / "started").exists()
    assert second["components"] == first["components"] and second["input_hash"] == first["input_hash"]
    # psi4 tests/sapt-ecp publishes -0.09561567760757009 Eh with df_fitting_condition 1e-12 (not set here)
    assert first["components"]["total"] == pytest.approx(-0.09561567760757009 * 2625.4996394798254, abs=1e-3)
