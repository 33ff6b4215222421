"""Helpers for the project's own tests (and users' tests of their force fields): named tolerances and
a way to run the ``phyneo`` command in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Named tolerances, so a test says which agreement it claims.
SAPT_COMPONENT_HARTREE = 1e-6  # psi4's own test suite vs our harness
FF_ENERGY_REL = 1e-5  # JAX vs OpenMM per term
FF_FORCE_RMS_REL = 1e-4


def run_phyneo(*args: str, data_dir: str | Path, check: bool = True, timeout: float = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``phyneo ARGS`` in a new process against the embedded database in ``data_dir``."""
    full_env = os.environ | {"PHYNEO_DATA_DIR": str(data_dir)} | (env or {})
    proc = subprocess.run([sys.executable, "-m", "phyneo_flows.cli", *args], cwd=REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"phyneo {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc
