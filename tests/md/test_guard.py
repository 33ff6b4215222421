"""The stability guard: trips restart from the last checkpoint with a smaller step, or stop with a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.md.guard import GuardConfig, MDInstabilityError
from phyneo_flows.md.runner import MDRunner
from phyneo_flows.md.trajectory import read_trajectory

sys.path.insert(0, str(Path(__file__).parent))
from lj_job import lj_backend  # noqa: E402


def _all_finite(directory: Path) -> bool:
    data = read_trajectory(directory / "segments")
    return all(np.isfinite(v).all() for g in data.values() for v in g.values())


def test_too_large_step_trips_and_continues_with_smaller_step(tmp_path):
    # 100 fs (0.05 LJ time units) is far beyond argon's stable step (about 10 fs)
    backend = lj_backend("nve", n_side=3, dt=0.1, report_interval=5, frames_per_chunk=2)
    guard = GuardConfig(max_trips=6, max_temperature_factor=2.0)
    report = MDRunner(backend, tmp_path, checkpoint_interval_chunks=1, guard=guard).run(100)
    assert report.trips, "a 100 fs step for argon must trip the guard"
    assert report.trips[0].quantity in ("temperature", "nan", "close_contact")
    assert report.timestep_ps <= 0.1 * 0.5 ** len(report.trips) + 1e-15
    assert report.n_steps == 100
    data = read_trajectory(tmp_path / "segments")
    assert np.array_equal(data["particles"]["step"], np.arange(10, 101, 10))
    assert data["observables"]["temperature"].max() <= 2.0 * 86.5
    assert _all_finite(tmp_path)


def test_repeated_trips_stop_with_a_report_naming_the_atoms(tmp_path):
    backend = lj_backend("nvt", n_side=3, report_interval=5, frames_per_chunk=2)
    pos = np.asarray(backend.state.positions).copy()
    pos[4] = pos[13] + np.array([0.05, 0.0, 0.0])  # atoms 4 and 13 overlap: LJ force of ~1e9 kJ/mol/nm
    backend = lj_backend("nvt", n_side=3, report_interval=5, frames_per_chunk=2)
    from phyneo_flows.md.backend import JaxBackend

    backend = JaxBackend(
        backend.integrator.potential, backend.masses, pos, np.asarray(backend.state.box), backend.config
    )
    guard = GuardConfig(max_trips=2)
    with pytest.raises(MDInstabilityError) as info:
        MDRunner(backend, tmp_path, checkpoint_interval_chunks=1, guard=guard).run(100)
    trips = info.value.trips
    assert len(trips) == 3
    assert {4, 13} & set(trips[-1].atoms) or trips[-1].quantity in ("nan", "temperature")
    assert [t.timestep_ps for t in trips] == pytest.approx([0.005, 0.0025, 0.00125])
    saved = json.loads((tmp_path / "guard_report.json").read_text())
    assert len(saved) == 3 and saved[-1]["quantity"] == trips[-1].quantity
    assert "atoms" in str(info.value)
    assert not list((tmp_path / "segments").glob("seg_*.h5"))  # nothing was written, so no NaN either
