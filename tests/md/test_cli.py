"""``phyneo md info`` and ``phyneo md export`` on a run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from phyneo_flows.md.cli import app
from phyneo_flows.md.guard import GuardConfig
from phyneo_flows.md.runner import MDRunner
from phyneo_flows.md.trajectory import read_h5md

sys.path.insert(0, str(Path(__file__).parent))
from lj_job import lj_backend  # noqa: E402


def test_info_and_export(tmp_path):
    guard = GuardConfig(max_volume_change=2.0, max_temperature_factor=10.0, min_distance_nm=0.0)
    report = MDRunner(lj_backend("nvt", n_side=2), tmp_path / "run", guard=guard).run(40)
    runner = CliRunner()
    res = runner.invoke(app, ["info", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["step"] == 40
    res = runner.invoke(app, ["export", str(tmp_path / "run"), str(tmp_path / "out.h5")])
    assert res.exit_code == 0, res.output
    a, b = read_h5md(tmp_path / "out.h5"), read_h5md(report.trajectory)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    res = runner.invoke(app, ["info", str(tmp_path)])
    assert res.exit_code != 0
