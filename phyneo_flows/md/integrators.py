"""Integrators in JAX over any :class:`~phyneo_flows.md.potential.Potential`.

One step (symmetric splitting, so NVT reduces to velocity Verlet when the thermostat is off):

    thermostat(dt/2)  ->  v += F/m dt/2  ->  x += v dt  ->  forces  ->  v += F/m dt/2  ->  thermostat(dt/2)

and, in NPT, an isotropic Monte Carlo volume move every ``barostat_interval`` steps (molecule centres of
mass scaled, acceptance exp(-[dU + P dV - N_mol kT ln(V'/V)]/kT), the move size adapted towards 25-75 %
acceptance), which samples the isothermal-isobaric ensemble.

Thermostats: CSVR (Bussi, Donadio and Parrinello, J. Chem. Phys. 126, 014101 (2007)), which samples the
canonical kinetic-energy distribution exactly; Langevin (an Ornstein-Uhlenbeck half step per atom on each side
of velocity Verlet, the OBABO splitting: Bussi and Parrinello, Phys. Rev. E 75, 056707 (2007)), which acts on
every degree of freedom, so it brings stiff modes (C-H stretches) to equipartition that a global rescaling
leaves as they were; or none (NVE). The work the thermostat does is accumulated
so that the conserved quantity E + K - W_thermostat can be monitored.

Units: nm, ps, amu, kJ/mol, K; pressure in bar at the interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.md.potential import Potential, evaluate_carry  # noqa: E402
from phyneo_flows.units import BAR_NM3_TO_KJ_MOL, BOLTZMANN_KJ_MOL_K  # noqa: E402


class MDConfig(BaseModel):
    """What to integrate and how (nm, ps, K, bar)."""

    ensemble: Literal["nve", "nvt", "npt"] = "nvt"
    timestep_ps: float = Field(0.001, gt=0, description="time step, ps (1 fs default)")
    temperature_k: float = Field(298.15, gt=0, description="thermostat and barostat temperature, K")
    pressure_bar: float = Field(1.0, description="barostat pressure, bar (NPT only)")
    thermostat: Literal["csvr", "langevin"] = "csvr"
    tau_t_ps: float = Field(0.1, gt=0, description="CSVR relaxation time, ps")
    friction_per_ps: float = Field(1.0, gt=0, description="Langevin friction, 1/ps")
    barostat_interval: int = Field(25, ge=1, description="steps between Monte Carlo volume moves")
    barostat_max_dv_fraction: float = Field(0.01, gt=0, description="initial largest volume change / V")
    barostat_adapt: bool = Field(True, description="adapt the move size every 10 tries (25-75% acceptance)")
    report_interval: int = Field(10, ge=1, description="steps between observable frames")
    frames_per_chunk: int = Field(10, ge=1, description="observable frames per chunk; positions each chunk")
    seed: int = 0


@jax.tree_util.register_dataclass
@dataclass
class MDState:
    """Everything needed to continue a run exactly (a pytree of arrays)."""

    positions: Any  # (N, 3) nm, unwrapped
    velocities: Any  # (N, 3) nm/ps
    forces: Any  # (N, 3) kJ/mol/nm at ``positions``
    box: Any  # (3, 3) nm, rows are box vectors
    energy: Any  # () kJ/mol, potential
    terms: Any  # dict of () kJ/mol
    virial: Any  # (3, 3) kJ/mol, -dE/d(strain)
    aux: Any  # the potential's auxiliary state (neighbour list, ...)
    key: Any  # (2,) uint32 PRNG key
    step: Any  # () int64
    time: Any  # () ps
    thermostat_work: Any  # () kJ/mol, energy added by the thermostat
    baro_dv: Any  # () nm^3, current largest volume move
    baro_tried: Any  # () int64
    baro_accepted: Any  # () int64


def kinetic_tensor(velocities, masses):
    """sum_i m_i v_i v_i^T (kJ/mol; twice the kinetic-energy tensor)."""
    return jnp.einsum("i,ia,ib->ab", masses, velocities, velocities)


def degrees_of_freedom(n_atoms: int) -> int:
    """3N - 3: the centre-of-mass momentum is removed at the start and conserved by every step."""
    return 3 * n_atoms - 3


def pressure_tensor_bar(velocities, masses, virial, box):
    """(sum m v v^T + W) / V, in bar."""
    vol = jnp.abs(jnp.linalg.det(box))
    return (kinetic_tensor(velocities, masses) + virial) / vol / BAR_NM3_TO_KJ_MOL


def maxwell_boltzmann(key, masses, temperature_k: float):
    """Velocities (N, 3) nm/ps from Maxwell-Boltzmann at ``temperature_k``, zero total momentum."""
    m = jnp.asarray(masses)
    v = jax.random.normal(key, (m.shape[0], 3)) * jnp.sqrt(BOLTZMANN_KJ_MOL_K * temperature_k / m)[:, None]
    return v - jnp.sum(m[:, None] * v, 0) / jnp.sum(m)


def csvr_half(key, velocities, masses, kt: float, nf: int, dt, tau):
    """Bussi's stochastic velocity rescaling over a time ``dt``: returns (velocities, dK)."""
    k_now = 0.5 * jnp.sum(masses[:, None] * velocities**2)
    k_target = 0.5 * nf * kt
    c = jnp.exp(-dt / tau)
    k1, k2 = jax.random.split(key)
    r1 = jax.random.normal(k1)
    others = 2.0 * jax.random.gamma(k2, 0.5 * (nf - 1))  # sum of nf - 1 squared unit normals
    k_new = (
        k_now
        + (1 - c) * (k_target * (others + r1 * r1) / nf - k_now)
        + 2 * r1 * jnp.sqrt(k_now * k_target / nf * (1 - c) * c)
    )
    alpha = jnp.sqrt(jnp.maximum(k_new, 0.0) / k_now)
    sign = jnp.where(r1 + jnp.sqrt(c * k_now * nf / ((1 - c) * k_target)) < 0, -1.0, 1.0)
    return velocities * alpha * sign, k_new - k_now


def langevin_half(key, velocities, masses, kt: float, dt, friction):
    """Ornstein-Uhlenbeck velocity update over a time ``dt`` (exact for the friction part), total momentum
    removed: returns (velocities, dK)."""
    c = jnp.exp(-friction * dt)
    m = masses[:, None]
    noise = jax.random.normal(key, velocities.shape) * jnp.sqrt((1 - c * c) * kt / m)
    vel = c * velocities + noise
    vel = vel - jnp.sum(m * vel, 0) / jnp.sum(masses)
    return vel, 0.5 * jnp.sum(m * vel**2) - 0.5 * jnp.sum(m * velocities**2)


def molecule_index(n_atoms: int, molecules=None) -> np.ndarray:
    """Molecule id per atom (default: every atom its own molecule)."""
    if molecules is None:
        return np.arange(n_atoms)
    mol = np.asarray(molecules, dtype=np.int64)
    if mol.shape != (n_atoms,):
        raise InputError(
            f"molecule index of shape {mol.shape} for {n_atoms} atoms",
            field="molecules",
            fix="give one molecule id per atom",
        )
    _, inv = np.unique(mol, return_inverse=True)
    return inv


class Integrator:
    """The step and chunk functions for one potential, set of masses and :class:`MDConfig`."""

    def __init__(self, potential: Potential, masses, config: MDConfig, molecules=None):
        self.potential = potential
        self.config = config
        self.masses = jnp.asarray(np.asarray(masses, dtype=float))
        n = int(self.masses.shape[0])
        self.n_atoms = n
        self.nf = degrees_of_freedom(n)
        self.mol = jnp.asarray(molecule_index(n, molecules))
        self.n_mol = int(np.max(np.asarray(self.mol))) + 1
        mol_mass = jax.ops.segment_sum(self.masses, self.mol, self.n_mol)
        self.mol_mass = mol_mass
        self._chunk = jax.jit(self._chunk_impl)
        self._eval = jax.jit(lambda pos, box, aux: evaluate_carry(potential, pos, box, aux))
        self._update_aux = jax.jit(potential.update_aux)

    # ------------------------------------------------------------------------------------------------
    def init_state(self, positions, box, velocities=None, aux=None) -> MDState:
        """A state at ``positions`` (nm) and ``box`` (3x3 nm); velocities from Maxwell-Boltzmann if None."""
        cfg = self.config
        key = jax.random.PRNGKey(cfg.seed)
        key, sub = jax.random.split(key)
        pos = jnp.asarray(np.asarray(positions, dtype=float))
        box = jnp.asarray(np.asarray(box, dtype=float))
        if velocities is None:
            vel = maxwell_boltzmann(sub, self.masses, cfg.temperature_k)
        else:
            vel = jnp.asarray(np.asarray(velocities, dtype=float))
        if aux is None:
            aux = self.potential.init_aux(pos, box)
        aux = self._update_aux(aux, pos, box)
        terms, total, forces, virial, aux = self._eval(pos, box, aux)
        vol = float(abs(np.linalg.det(np.asarray(box))))
        i64 = jnp.int64
        return MDState(
            positions=pos,
            velocities=vel,
            forces=forces,
            box=box,
            energy=total,
            terms=terms,
            virial=virial,
            aux=aux,
            key=key,
            step=jnp.asarray(0, i64),
            time=jnp.asarray(0.0),
            thermostat_work=jnp.asarray(0.0),
            baro_dv=jnp.asarray(cfg.barostat_max_dv_fraction * vol),
            baro_tried=jnp.asarray(0, i64),
            baro_accepted=jnp.asarray(0, i64),
        )

    # ------------------------------------------------------------------------------------------------
    def _thermostat(self, state: MDState, dt):
        cfg = self.config
        if cfg.ensemble == "nve":
            return state
        key, sub = jax.random.split(state.key)
        kt = BOLTZMANN_KJ_MOL_K * cfg.temperature_k
        if cfg.thermostat == "langevin":
            vel, dk = langevin_half(sub, state.velocities, self.masses, kt, dt, cfg.friction_per_ps)
        else:
            vel, dk = csvr_half(sub, state.velocities, self.masses, kt, self.nf, dt, cfg.tau_t_ps)
        return _replace(state, velocities=vel, key=key, thermostat_work=state.thermostat_work + dk)

    def _barostat(self, state: MDState):
        cfg = self.config
        kt = BOLTZMANN_KJ_MOL_K * cfg.temperature_k
        key, k_dv, k_acc = jax.random.split(state.key, 3)
        vol = jnp.abs(jnp.linalg.det(state.box))
        dv = state.baro_dv * (2 * jax.random.uniform(k_dv) - 1)
        new_vol = vol + dv
        scale = jnp.cbrt(jnp.maximum(new_vol, 1e-12) / vol)
        com = jax.ops.segment_sum(self.masses[:, None] * state.positions, self.mol, self.n_mol)
        com = com / self.mol_mass[:, None]
        shift = (scale - 1) * com
        pos = state.positions + shift[self.mol]
        box = state.box * scale
        aux = self.potential.update_aux(state.aux, pos, box)
        terms, total, forces, virial, aux = evaluate_carry(self.potential, pos, box, aux)
        pv = cfg.pressure_bar * BAR_NM3_TO_KJ_MOL
        w = total - state.energy + pv * dv - self.n_mol * kt * jnp.log(new_vol / vol)
        accept = (new_vol > 0) & jnp.isfinite(total) & (jax.random.uniform(k_acc) < jnp.exp(-w / kt))
        pick = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(accept, x, y), a, b)  # noqa: E731
        tried = state.baro_tried + 1
        acc = state.baro_accepted + accept.astype(jnp.int64)
        new_dv = state.baro_dv
        if cfg.barostat_adapt:
            ratio = acc / tried
            at_check = (tried % 10) == 0
            new_dv = jnp.where(at_check & (ratio < 0.25), new_dv / 1.1, new_dv)
            new_dv = jnp.where(at_check & (ratio > 0.75), jnp.minimum(new_dv * 1.1, 0.3 * vol), new_dv)
            tried = jnp.where(at_check & ((ratio < 0.25) | (ratio > 0.75)), 0, tried)
            acc = jnp.where(tried == 0, 0, acc)
        return _replace(
            state,
            positions=pick(pos, state.positions),
            box=pick(box, state.box),
            aux=pick(aux, state.aux),
            energy=pick(total, state.energy),
            terms=pick(terms, state.terms),
            forces=pick(forces, state.forces),
            virial=pick(virial, state.virial),
            key=key,
            baro_dv=new_dv,
            baro_tried=tried,
            baro_accepted=acc,
        )

    def step(self, state: MDState, dt) -> MDState:
        """One time step of length ``dt`` (ps); jit-able."""
        cfg = self.config
        m = self.masses[:, None]
        state = self._thermostat(state, 0.5 * dt)
        vel = state.velocities + 0.5 * dt * state.forces / m
        pos = state.positions + dt * vel
        aux = self.potential.update_aux(state.aux, pos, state.box)
        terms, total, forces, virial, aux = evaluate_carry(self.potential, pos, state.box, aux)
        vel = vel + 0.5 * dt * forces / m
        state = _replace(
            state,
            positions=pos,
            velocities=vel,
            forces=forces,
            aux=aux,
            energy=total,
            terms=terms,
            virial=virial,
            step=state.step + 1,
            time=state.time + dt,
        )
        state = self._thermostat(state, 0.5 * dt)
        if cfg.ensemble == "npt":
            state = jax.lax.cond(state.step % cfg.barostat_interval == 0, self._barostat, lambda s: s, state)
        return state

    def observables(self, state: MDState) -> dict:
        """Per-frame observables: energies (kJ/mol), kinetic energy, temperature (K), pressure tensor (bar),
        volume (nm^3), conserved quantity (kJ/mol)."""
        kin = 0.5 * jnp.sum(self.masses[:, None] * state.velocities**2)
        vol = jnp.abs(jnp.linalg.det(state.box))
        return {
            "potential_energy": state.energy,
            "kinetic_energy": kin,
            "temperature": 2 * kin / (self.nf * BOLTZMANN_KJ_MOL_K),
            "pressure_tensor": pressure_tensor_bar(state.velocities, self.masses, state.virial, state.box),
            "volume": vol,
            "conserved_energy": state.energy + kin - state.thermostat_work,
            "box": state.box,
            "terms": state.terms,
            "step": state.step,
            "time": state.time,
        }

    def _chunk_impl(self, state: MDState, dt):
        cfg = self.config

        def block(s, _):
            s = jax.lax.fori_loop(0, cfg.report_interval, lambda i, x: self.step(x, dt), s)
            return s, self.observables(s)

        state, obs = jax.lax.scan(block, state, None, length=cfg.frames_per_chunk)
        return state, obs

    def chunk(self, state: MDState, dt: float):
        """Advance ``report_interval * frames_per_chunk`` steps; returns (state, observables per frame)."""
        return self._chunk(state, jnp.asarray(dt, dtype=jnp.float64))


def _replace(state: MDState, **changes) -> MDState:
    values = {k: getattr(state, k) for k in state.__dataclass_fields__}
    values.update(changes)
    return MDState(**values)


def state_to_numpy(state: MDState) -> dict[str, np.ndarray]:
    """A flat dict of numpy arrays (the checkpoint payload); :func:`state_from_numpy` inverts it."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(state)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def state_from_numpy(payload: dict[str, np.ndarray], template: MDState) -> MDState:
    """Rebuild a state from :func:`state_to_numpy` output, using ``template`` for the structure."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    values = []
    for path, leaf in leaves:
        name = jax.tree_util.keystr(path)
        if name not in payload:
            raise InputError(
                f"checkpoint lacks {name}",
                field="checkpoint",
                fix="resume with the same potential and settings that wrote it",
            )
        arr = np.asarray(payload[name])
        if arr.shape != np.shape(leaf) and not name.startswith(".aux"):  # a list may have been reallocated
            raise InputError(
                f"checkpoint {name} has shape {arr.shape}, expected {np.shape(leaf)}",
                field="checkpoint",
                fix="resume with the same system that wrote it",
            )
        values.append(jnp.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, values)


def repartition_hydrogen_masses(masses, bonds, hydrogen_mass: float = 3.024) -> np.ndarray:
    """Hydrogen mass repartitioning: each H (mass < 1.5 amu) gets ``hydrogen_mass`` (amu), taken from the
    heavy atom it is bonded to; the total mass is unchanged. For sampling and density, never transport."""
    m = np.array(masses, dtype=float)
    light = m < 1.5
    for i, j in np.asarray(bonds, dtype=int).reshape(-1, 2):
        for h, heavy in ((i, j), (j, i)):
            if light[h] and not light[heavy]:
                extra = hydrogen_mass - m[h]
                if m[heavy] - extra <= 1.5:
                    raise InputError(
                        f"atom {heavy} would be left lighter than hydrogen",
                        field="hydrogen_mass",
                        fix="use a smaller hydrogen mass",
                    )
                m[h] += extra
                m[heavy] -= extra
    return m
