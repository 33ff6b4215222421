"""The analysis Makers run in jobflow and return the core's result."""

import numpy as np
import pytest
from jobflow import run_locally

from phyneo_flows.analysis.jobs import DiffusionMaker
from tests.analysis.synthetic import brownian


def test_diffusion_maker_runs_locally(tmp_path):
    rng = np.random.default_rng(20)
    f = tmp_path / "pos.npy"
    np.save(f, brownian(1000, 50, 1.0, 0.1, rng))
    j = DiffusionMaker().make([str(f)], 1.0)
    out = run_locally(j, ensure_success=True)
    res = out[j.uuid][1].output["all"]
    assert res.trajectory == str(f)
    assert res.value == pytest.approx(0.1, abs=4 * res.uncertainty)
