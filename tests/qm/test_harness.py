"""Harness orchestration: registry, validation before any engine starts, the SCF retry ladder.

The retry test drives a stand-in ``psi4`` script (an orchestration unit test: it checks which inputs the
harness writes, not physics); every physics number is tested against real psi4 in test_sapt_psi4.py.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.qm.harness import QMFailure, get_harness
from phyneo_flows.qm.models import Dimer, QMMolecule
from phyneo_flows.qm.psi4 import Psi4Harness, SaptInput, SaptResult, installed_version

WATER_NA = """4
water Na+
H -0.803001 1.098737 0.000360
H -0.919454 -1.089722 0.000521
O -0.035537 -0.067631 0.000218
Na 2.281447 -0.004247 -0.000154
"""

FAKE_PSI4 = """#!{python}
import pathlib, sys
if sys.argv[1:] == ["--version"]:
    print("1.3.2")
    sys.exit(0)
text = pathlib.Path("input.dat").read_text()
out = pathlib.Path("output.dat")
if "maxiter 300" not in text:
    out.write_text("psi4.driver.p4util.exceptions.SCFConvergenceError: Could not converge SCF iterations in 100 "
                   "iterations.\\n")
    sys.exit(1)
names = ["SAPT ELST ENERGY", "SAPT EXCH ENERGY", "SAPT IND ENERGY", "SAPT DISP ENERGY", "SAPT TOTAL ENERGY",
         "SAPT HF(2) ENERGY"]
out.write_text("".join("PHYNEO_PSIVAR %s = %.16e\\n" % (n, -0.001 * i) for i, n in enumerate(names)))
"""


requires_basis_library = pytest.mark.skipif(not Path("/usr/share/psi4/basis").is_dir(),
                                            reason="psi4's basis library is not installed")


def _no_subprocess(*args, **kwargs):
    raise AssertionError(f"an engine was started: {args}")


def test_registry_finds_psi4_and_rejects_unknown_engines():
    if not Psi4Harness().found():
        with pytest.raises(EngineNotFoundError):
            get_harness("psi4")
    else:
        assert isinstance(get_harness("PSI4", threads=1), Psi4Harness)
    with pytest.raises(InputError) as info:
        get_harness("gaussian")
    assert info.value.field == "engine"


@requires_basis_library
@pytest.mark.parametrize(("build", "field"), [
    (lambda d: SaptInput(dimer=d, basis="cc-pvnonsense"), "basis"),
    (lambda d: SaptInput(dimer=d, basis="aug-cc-pvdz"), "basis"),  # aug-cc-pVDZ has no Ca
    (lambda d: SaptInput(dimer=d, method="mp2"), "method"),
])
def test_bad_input_fails_before_any_engine_starts(build, field, monkeypatch):
    dimer = Dimer.from_xyz(WATER_NA.replace("Na", "Ca"), split=3, charges=(0, 2))
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    harness = Psi4Harness(basis_dir="/usr/share/psi4/basis")
    harness._version = "1.3.2"
    with pytest.raises(InputError) as info:
        harness.compute(build(dimer))
    assert info.value.field == field


def test_open_shell_sapt_dft_is_rejected():
    radical = QMMolecule(symbols=["O", "H"], coordinates_nm=[[0, 0, 0], [0, 0, 0.097]], multiplicity=2)
    helium = QMMolecule(symbols=["He"], coordinates_nm=[[0.5, 0, 0]])
    with pytest.raises(InputError) as info:
        SaptInput(dimer=Dimer(monomer_a=radical, monomer_b=helium), method="sapt(dft)")
    assert info.value.field == "dimer.monomer_a"


@requires_basis_library
def test_scf_failure_is_retried_with_stronger_settings(tmp_path):
    script = tmp_path / "fake-psi4"
    script.write_text(FAKE_PSI4.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    harness = Psi4Harness(executable=str(script), threads=1, scratch_root=tmp_path / "scratch",
                          basis_dir="/usr/share/psi4/basis")
    (tmp_path / "scratch").mkdir()
    dimer = Dimer.from_xyz(WATER_NA, split=3, charges=(0, 1))
    result = harness.compute(SaptInput(dimer=dimer, basis="3-21g"))
    assert isinstance(result, SaptResult) and result.attempts == 2
    assert list((tmp_path / "scratch").iterdir()) == []  # scratch removed after success
    failure = harness.compute(SaptInput(dimer=dimer, basis="3-21g", options={"maxiter": 50}))
    assert isinstance(failure, QMFailure) and failure.attempts == 3  # the user's maxiter wins every time
    assert failure.message.startswith("SCFConvergenceError: Could not converge")
    assert [p.name for p in (tmp_path / "scratch").iterdir()] == [failure.scratch_dir.split("/")[-1]]
    assert "damping_percentage 40.0" in (tmp_path / "scratch" / failure.scratch_dir / "input.dat").read_text()


def test_version_is_read_from_the_installed_metadata_without_starting_psi4(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "psi4"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    package = tmp_path / "lib" / "x86_64-linux-gnu" / "psi4"
    package.mkdir(parents=True)
    (package / "metadata.py").write_text("__version__ = '1.3.2'\nversion_formatter = None\n")
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    assert Psi4Harness(executable=str(fake)).version() == "1.3.2"


@pytest.mark.skipif(shutil.which("psi4") is None, reason="psi4 is not installed")
def test_metadata_version_is_what_psi4_itself_reports():
    reported = subprocess.run(["psi4", "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    assert installed_version(shutil.which("psi4")) == reported
