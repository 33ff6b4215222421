"""The Lennard-Jones generator itself (slow: runs real MD for about a minute)."""

import json

import numpy as np
import pytest

pytest.importorskip("numba")


@pytest.mark.slow
def test_generator_writes_a_consistent_fixture(tmp_path):
    from phyneo_flows.analysis.validation.make_lj_fixture import main

    out = tmp_path / "lj.npz"
    main(["--out", str(out), "--runs", "2", "--n-cells", "4", "--rc", "2.5", "--melt-steps", "500",
          "--equil-steps", "3000", "--prod-steps", "10000", "--pos-every", "200", "--pos-frames", "20",
          "--pos-atoms", "16"])
    d = np.load(out)
    assert d["stress"].shape == (2, 400, 5) and d["stress"].dtype == np.float32
    assert d["positions"].shape == (2, 20, 16, 3)
    assert int(d["n_atoms"]) == 256
    assert json.loads(str(d["meta"]))["config"]["rc"] == 2.5
    # NVE: temperature stays near the target it was equilibrated at; energy conserved
    assert np.all(np.abs(d["temperature"] - 0.722) < 0.03)
    assert np.all(np.abs(d["energy_drift_per_atom"]) < 1e-3)
    # traceless stress averages to ~0 in an isotropic liquid
    assert np.all(np.abs(d["stress"].mean(axis=1)) < 0.1)
