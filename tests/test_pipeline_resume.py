"""Kill the whole pipeline twice with SIGKILL at random points, rerun the same command: the results are those
of an uninterrupted run and no stage is computed twice.

The flow: DMC, box -> sampling -> NPT MD (generation-0 force field) -> properties, small enough for a test.
SAPT is left out here (``pair_types: []``): its resume is the QM cache's, tested with real psi4 runs in
tests/test_pipeline.py and tests/qm/test_cache.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phyneo_flows.testing import REPO_ROOT

TINY = """name: tiny-md
box: {atoms: 96}
sampling: {poses_per_pair: 1, cutoff_nm: 0.35, scan_contacts_a: [3.0]}
sapt: {method: sapt0, basis: jun-cc-pvdz, max_dimers_per_pair: 2, pair_types: []}
md: {npt_ps: 0.2, timestep_fs: 1.0, cutoff_nm: 0.4, polarization: direct, report_interval: 5,
     frames_per_chunk: 1, minimise_iterations: 20}
"""


def _start(data: Path, profile: Path) -> subprocess.Popen:
    env = os.environ | {"PHYNEO_DATA_DIR": str(data)}
    return subprocess.Popen([sys.executable, "-m", "phyneo_flows.cli", "run", str(REPO_ROOT / "workflows/dmc.yaml"),
                             "--profile", str(profile)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen) -> bool:
    """SIGKILL the run and everything it started; False when it had already finished."""
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _documents(data: Path) -> list[dict]:
    from phyneo_flows.settings import Settings
    from phyneo_flows.store import connected, get_store

    store = connected(get_store(Settings(data_dir=data)))
    docs = list(store.query({}, properties=["uuid", "output"], load=False))
    store.close()
    return [d for d in docs if d.get("output")]


def _density(data: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "phyneo_flows.cli", "query", "--formulation", "dmc", "--property",
                           "density", "--json"], cwd=REPO_ROOT, env=os.environ | {"PHYNEO_DATA_DIR": str(data)},
                          capture_output=True, text=True, check=True)
    rows = json.loads(proc.stdout)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.slow
def test_killed_twice_finishes_like_an_uninterrupted_run(tmp_path):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    rng = random.Random(int(os.environ.get("PHYNEO_KILL_SEED", time.time_ns() % 10_000)))

    t0 = time.perf_counter()
    ref = _start(whole, profile)
    assert ref.wait(timeout=3600) == 0, ref.stdout.read().decode()
    duration = time.perf_counter() - t0

    kills = []
    for _ in range(2):  # two kills at random moments of a run as long as the reference
        victim = _start(killed, profile)
        delay = rng.uniform(0.15, 0.7) * duration
        try:
            victim.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        kills.append((round(delay, 1), _kill(victim)))
    final = _start(killed, profile)
    assert final.wait(timeout=3600) == 0, final.stdout.read().decode()
    assert any(k for _, k in kills), f"both runs ended before their kill ({kills}): the flow is too short"

    a, b = _density(whole), _density(killed)
    assert b["value"] == a["value"] and b["uncertainty"] == a["uncertainty"], (kills, a, b)
    computed: dict[str, int] = {}
    for d in _documents(killed):
        if d["output"].get("reused_from") is None:
            computed[d["output"]["input_hash"]] = computed.get(d["output"]["input_hash"], 0) + 1
    assert computed and max(computed.values()) == 1, (kills, computed)  # no stage computed twice
    stages_whole = sorted(d["output"]["stage"] for d in _documents(whole))
    assert sorted({d["output"]["stage"] for d in _documents(killed)}) == sorted(set(stages_whole))

    again = subprocess.run([sys.executable, "-m", "phyneo_flows.cli", "run", str(REPO_ROOT / "workflows/dmc.yaml"),
                            "--profile", str(profile)], cwd=REPO_ROOT, capture_output=True, text=True,
                           env=os.environ | {"PHYNEO_DATA_DIR": str(killed)}, check=True)
    assert "already in the database" in again.stdout
