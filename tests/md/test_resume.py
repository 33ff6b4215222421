"""A run killed with SIGKILL and restarted writes the same trajectory, bit for bit, as an unbroken one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.md import checkpoint as ckpt
from phyneo_flows.md.guard import GuardConfig
from phyneo_flows.md.runner import MDRunner
from phyneo_flows.md.trajectory import read_h5md, read_trajectory

sys.path.insert(0, str(Path(__file__).parent))
from lj_job import lj_backend  # noqa: E402

JOB = Path(__file__).with_name("lj_job.py")
N_STEPS = 600  # 60 chunks of 10 steps, a checkpoint every 2 chunks


def _start(directory: Path) -> subprocess.Popen:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    return subprocess.Popen(
        [sys.executable, str(JOB), str(directory), str(N_STEPS), "npt"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _checkpoint_step(directory: Path) -> int:
    try:
        return ckpt.load(directory / "checkpoint.npz")[1]["step"]
    except Exception:  # not written yet, or being replaced
        return 0


@pytest.mark.slow
def test_sigkill_and_resume_is_bitwise_identical(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    first = _start(whole)
    victim = _start(killed)
    deadline = time.time() + 300
    while _checkpoint_step(killed) < 100 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "the run ended before it could be killed: make it longer"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stopped_at = _checkpoint_step(killed)
    assert 0 < stopped_at < N_STEPS
    resumed = _start(killed)
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read().decode()
    assert first.wait(timeout=600) == 0, first.stdout.read().decode()

    a, b = read_trajectory(whole / "segments"), read_trajectory(killed / "segments")
    for group in ("particles", "observables", "terms"):
        assert a[group].keys() == b[group].keys()
        for k in a[group]:
            assert a[group][k].shape == b[group][k].shape, k
            assert np.array_equal(a[group][k], b[group][k]), f"{group}/{k} differs after resume"
    steps = a["particles"]["step"]
    assert np.array_equal(steps, np.arange(10, N_STEPS + 1, 10))  # no gap, no duplicate
    assert np.array_equal(b["observables"]["step"], np.arange(5, N_STEPS + 1, 5))
    ha, hb = read_h5md(whole / "trajectory.h5"), read_h5md(killed / "trajectory.h5")
    assert all(np.array_equal(ha[k], hb[k]) for k in ha)
    sa, sb = ckpt.load(whole / "checkpoint.npz")[0], ckpt.load(killed / "checkpoint.npz")[0]
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    # the barostat really moved the box, so its state was part of what had to survive
    assert np.ptp(a["observables"]["volume"]) > 0


def test_resume_from_disk_checkpoint_in_process(tmp_path):
    """Fast twin of the SIGKILL test: the second run must take its state from the file on disk (the back
    end's memory is reset to step 0 first), drop the segment written after the checkpoint and recompute."""
    backend = lj_backend("npt", n_side=2, frames_per_chunk=2)
    start = backend.snapshot()
    guard = GuardConfig(max_volume_change=2.0, max_temperature_factor=10.0, min_distance_nm=0.0)
    whole = MDRunner(backend, tmp_path / "whole", checkpoint_interval_chunks=2, guard=guard).run(200)
    backend.restore(start)
    MDRunner(backend, tmp_path / "part", checkpoint_interval_chunks=2, guard=guard).run(100)
    # a segment written but whose checkpoint never was (the kill window) must be dropped on resume
    extra = sorted((tmp_path / "part" / "segments").glob("seg_*.h5"))[-1]
    (extra.parent / "seg_9999999999.h5").write_bytes(extra.read_bytes())
    backend.restore(start)
    part = MDRunner(backend, tmp_path / "part", checkpoint_interval_chunks=2, guard=guard).run(200)
    assert part.resumed_from_step == 100
    assert not whole.trips and not part.trips
    a, b = read_h5md(whole.trajectory), read_h5md(part.trajectory)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(a["position_step"], np.arange(10, 201, 10))
