"""The interface every MD back end offers to the run loop, and the JAX back end.

A back end advances in chunks and returns plain numpy dicts (see :meth:`JaxBackend.chunk`); it can
``snapshot()`` its whole state into arrays and ``restore()`` it, so the run loop (:mod:`runner`) handles
trajectories, checkpoints and the stability guard the same way for JAX and OpenMM.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from phyneo_flows.ff.neighbors import minimum_image
from phyneo_flows.md.integrators import Integrator, MDConfig, MDState, state_from_numpy, state_to_numpy
from phyneo_flows.md.potential import Potential

MAX_REALLOCATIONS = 8  # larger neighbour lists tried for one chunk before giving up


class Backend(Protocol):
    """What :class:`phyneo_flows.md.runner.MDRunner` needs from a back end."""

    config: MDConfig
    masses: np.ndarray
    molecules: np.ndarray
    timestep_ps: float

    @property
    def step(self) -> int: ...

    @property
    def steps_per_chunk(self) -> int: ...

    def volume(self) -> float: ...

    def chunk(self, velocities: bool = False) -> dict: ...

    def snapshot(self) -> dict[str, np.ndarray]: ...

    def restore(self, payload: dict[str, np.ndarray]) -> None: ...

    def fingerprint(self) -> str: ...


@jax.jit
def min_intermolecular_distance(positions, box, mol):
    """(closest distance between atoms of different molecules under the minimum image, (i, j))."""
    n = positions.shape[0]

    def row(i):
        d = minimum_image(positions - positions[i], box)
        r2 = jnp.where(mol != mol[i], jnp.sum(d * d, -1), jnp.inf)
        j = jnp.argmin(r2)
        return r2[j], j

    r2, js = jax.lax.map(row, jnp.arange(n))
    i = jnp.argmin(r2)
    return jnp.sqrt(r2[i]), jnp.stack([i, js[i]])


class JaxBackend:
    """The JAX back end over a :class:`~phyneo_flows.md.potential.Potential`."""

    def __init__(
        self,
        potential: Potential,
        masses,
        positions,
        box,
        config: MDConfig,
        *,
        molecules=None,
        velocities=None,
    ):
        self.config = config
        self.integrator = Integrator(potential, masses, config, molecules)
        self.masses = np.asarray(masses, dtype=float)
        self.molecules = np.asarray(self.integrator.mol)
        self.timestep_ps = config.timestep_ps
        state = self.integrator.init_state(positions, box, velocities)
        # the same path a restored checkpoint takes, so fresh and resumed runs compile and run alike
        self.state: MDState = state_from_numpy(state_to_numpy(state), state)
        self._template = self.state
        self._potential = potential

    @property
    def step(self) -> int:
        return int(self.state.step)

    @property
    def steps_per_chunk(self) -> int:
        return self.config.report_interval * self.config.frames_per_chunk

    def volume(self) -> float:
        return float(abs(np.linalg.det(np.asarray(self.state.box))))

    def fingerprint(self) -> str:
        text = json.dumps(
            [self.config.model_dump(), self.masses.tolist(), self.molecules.tolist(), self._potential.name],
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def chunk(self, velocities: bool = False) -> dict:
        """Advance one chunk. Returns ``particles`` (step, time, position, box[, velocity]: one frame),
        ``observables`` (step, time, potential/kinetic/conserved energy, temperature, pressure tensor,
        volume: ``frames_per_chunk`` frames), ``terms`` (energy per term), ``final_velocity``, ``masses``,
        ``min_distance`` and ``min_pair`` for the guard."""
        start = self.state
        new, obs = self.integrator.chunk(start, self.timestep_ps)
        # a chunk whose neighbour list overflowed dropped pairs (its energies and forces are wrong): run it again
        # from its start with a larger list until none overflows; accepting the second try unchecked let a
        # hot 38-atom box gain 18 kJ/mol in 2 ps of NVE (jumps of 27-44 kJ/mol in the electrostatics)
        for attempt in range(MAX_REALLOCATIONS + 1):
            if not self._potential.needs_realloc(new.aux):
                break
            if attempt == MAX_REALLOCATIONS:
                raise RuntimeError(f"the neighbour list still overflows after {attempt} larger allocations")
            grow = self._potential.grow_aux
            aux = self._potential.init_aux(start.positions, start.box) if grow is None \
                else grow(new.aux, start.positions, start.box)
            start = MDState(**{**{k: getattr(start, k) for k in start.__dataclass_fields__}, "aux": aux})
            new, obs = self.integrator.chunk(start, self.timestep_ps)
        self.state = new
        self._template = new
        obs = jax.tree_util.tree_map(np.asarray, obs)
        pos = np.asarray(new.positions)
        particles = {
            "step": np.asarray([int(new.step)]),
            "time": np.asarray([float(new.time)]),
            "position": pos[None],
            "box": np.asarray(new.box)[None],
        }
        if velocities:
            particles["velocity"] = np.asarray(new.velocities)[None]
        dmin, pair = min_intermolecular_distance(new.positions, new.box, self.integrator.mol)
        observables = {
            k: obs[k]
            for k in (
                "step",
                "time",
                "potential_energy",
                "kinetic_energy",
                "temperature",
                "pressure_tensor",
                "volume",
                "conserved_energy",
            )
        }
        return {
            "particles": particles,
            "observables": observables,
            "terms": dict(obs["terms"]),
            "final_velocity": np.asarray(new.velocities),
            "masses": self.masses,
            "min_distance": float(dmin),
            "min_pair": np.asarray(pair),
        }

    def snapshot(self) -> dict[str, np.ndarray]:
        """The whole state as numpy arrays (the checkpoint payload)."""
        return state_to_numpy(self.state)

    def restore(self, payload: dict[str, np.ndarray]) -> None:
        """Continue from a :meth:`snapshot` (neighbour-list capacity may differ from the current one)."""
        self.state = state_from_numpy(payload, self._template)
        self._template = self.state
