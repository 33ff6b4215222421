"""The run loop: chunks, the stability guard, crash-safe trajectory segments and checkpoints.

``MDRunner(backend, directory).run(n_steps)`` runs until the back end's step counter reaches ``n_steps``.
If ``directory`` holds a checkpoint written by the same settings, the run resumes from it: the
trajectory segments written after that checkpoint are dropped and recomputed, so a run killed at any
moment and restarted yields the same trajectory, bit for bit, as one that was never interrupted (same
machine, same back end).

Order of writes at a checkpoint: the trajectory segment first, then the checkpoint (both atomic). On a
guard trip the back end is put back to the last checkpoint held in memory, the time step is multiplied
by ``guard.step_factor`` and the chunks since then are recomputed; after ``guard.max_trips`` trips the run
stops with :class:`~phyneo_flows.md.guard.MDInstabilityError` and writes ``guard_report.json``. Nothing
non-finite is ever written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from phyneo_flows.errors import InputError
from phyneo_flows.md import checkpoint as ckpt
from phyneo_flows.md import trajectory as traj
from phyneo_flows.md.backend import Backend
from phyneo_flows.md.guard import GuardConfig, MDInstabilityError, Trip, check_chunk

CHECKPOINT = "checkpoint.npz"
SEGMENTS = "segments"
TRAJECTORY = "trajectory.h5"


class RunReport(BaseModel):
    """What a finished (or resumed and finished) run did."""

    directory: str
    trajectory: str = Field(description="merged H5MD file")
    n_steps: int
    n_position_frames: int
    resumed_from_step: int | None = None
    timestep_ps: float = Field(description="time step at the end (smaller than asked after guard trips)")
    trips: list[Trip] = Field(default_factory=list)
    wall_seconds: float
    ns_per_day: float = Field(description="of this invocation's steps, at the final time step")


class MDRunner:
    """Drive a :class:`~phyneo_flows.md.backend.Backend` with checkpoints, guard and trajectory output."""

    def __init__(
        self,
        backend: Backend,
        directory: str | Path,
        *,
        checkpoint_interval_chunks: int = 10,
        write_velocities: bool = False,
        guard: GuardConfig | None = None,
    ):
        self.backend = backend
        self.directory = Path(directory)
        self.interval = int(checkpoint_interval_chunks)
        if self.interval < 1:
            raise InputError(
                "checkpoint interval must be at least one chunk", field="checkpoint_interval_chunks"
            )
        self.write_velocities = write_velocities
        self.guard = guard or GuardConfig()

    def _meta(self, n_frames: int, trips: list[Trip], v0: float) -> dict:
        return {
            "step": self.backend.step,
            "n_frames": n_frames,
            "timestep_ps": self.backend.timestep_ps,
            "trips": [t.model_dump() for t in trips],
            "reference_volume_nm3": v0,
            "fingerprint": self.backend.fingerprint(),
        }

    def run(self, n_steps: int) -> RunReport:
        """Run (or resume) until step ``n_steps``; a multiple of the chunk length."""
        be = self.backend
        per = be.steps_per_chunk
        if n_steps % per:
            raise InputError(
                f"{n_steps} steps is not a multiple of the chunk length {per}",
                field="n_steps",
                fix=f"use a multiple of report_interval x frames_per_chunk = {per}",
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        seg_dir = self.directory / SEGMENTS
        path = self.directory / CHECKPOINT
        resumed = None
        if path.exists():
            payload, meta = ckpt.load(path)
            if meta["fingerprint"] != be.fingerprint():
                raise InputError(
                    f"{path} was written by different settings",
                    field="directory",
                    fix="use a new directory or the settings of the first run",
                )
            be.restore(payload)
            be.timestep_ps = meta["timestep_ps"]
            trips = [Trip(**t) for t in meta["trips"]]
            n_frames, v0 = meta["n_frames"], meta["reference_volume_nm3"]
            resumed = meta["step"]
        else:
            trips, n_frames, v0 = [], 0, be.volume()
            be.timestep_ps = be.config.timestep_ps
            payload = be.snapshot()
            ckpt.save(path, payload, self._meta(n_frames, trips, v0))
        traj.truncate(seg_dir, n_frames)
        last_good = (payload, n_frames)
        buffer: list[dict] = []
        start_step, t0 = be.step, time.perf_counter()
        while be.step < n_steps:
            chunk = be.chunk(velocities=self.write_velocities)
            trip = check_chunk(
                chunk,
                target_temperature_k=be.config.temperature_k,
                reference_volume_nm3=v0,
                molecules=be.molecules,
                config=self.guard,
                timestep_ps=be.timestep_ps,
            )
            if trip is not None:
                trips.append(trip)
                if len(trips) > self.guard.max_trips:
                    report = self.directory / "guard_report.json"
                    report.write_text(json.dumps([t.model_dump() for t in trips], indent=1))
                    raise MDInstabilityError(trips, str(report))
                be.restore(last_good[0])
                be.timestep_ps *= self.guard.step_factor
                buffer = []
                continue
            buffer.append(chunk)
            if len(buffer) == self.interval or be.step >= n_steps:
                n_frames = self._flush(seg_dir, buffer, n_frames)
                buffer = []
                payload = be.snapshot()
                ckpt.save(path, payload, self._meta(n_frames, trips, v0))
                last_good = (payload, n_frames)
        wall = time.perf_counter() - t0
        out = traj.export_h5md(seg_dir, self.directory / TRAJECTORY)
        done = be.step - start_step
        ns_day = done * be.timestep_ps * 1e-3 / wall * 86400 if done and wall > 0 else 0.0
        return RunReport(
            directory=str(self.directory),
            trajectory=str(out),
            n_steps=be.step,
            n_position_frames=n_frames,
            resumed_from_step=resumed,
            timestep_ps=be.timestep_ps,
            trips=trips,
            wall_seconds=wall,
            ns_per_day=ns_day,
        )

    @staticmethod
    def _flush(seg_dir: Path, buffer: list[dict], n_frames: int) -> int:
        def cat(group):
            keys = buffer[0][group].keys()
            return {k: np.concatenate([np.asarray(c[group][k]) for c in buffer]) for k in keys}

        particles, observables, terms = cat("particles"), cat("observables"), cat("terms")
        for group in (particles, observables, terms):
            for k, v in group.items():
                if not np.isfinite(v).all():
                    raise MDInstabilityError(
                        [
                            Trip(
                                quantity="nan",
                                value=float("nan"),
                                limit=0.0,
                                step=int(particles["step"][-1]),
                                detail=f"{k} not finite",
                            )
                        ]
                    )
        traj.write_segment(seg_dir, n_frames, particles, observables, terms)
        return n_frames + len(particles["step"])
