"""The OpenMM back end: any ``openmm.System`` (e.g. the force field's twin) behind the same run loop.

NVE uses ``VerletIntegrator``; NVT and NPT use ``LangevinMiddleIntegrator`` with friction 1/``tau_t_ps``
(OpenMM ships no CSVR); NPT adds OpenMM's isotropic ``MonteCarloBarostat``. Positions are written
unwrapped (as OpenMM stores them), the potential energy as one term, and no pressure tensor (OpenMM
computes no virial). Checkpoints are OpenMM's own (``Context.createCheckpoint``), which restore the
integrator's and barostat's random state exactly on the same platform and machine.
Platforms: "Reference", "CPU", or "CUDA" when the openmm-cuda package and a GPU are present.
"""

from __future__ import annotations

import hashlib

import numpy as np

from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.md.backend import min_intermolecular_distance
from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.units import BOLTZMANN_KJ_MOL_K


def _openmm():
    try:
        import openmm
        import openmm.unit as unit
    except ImportError as exc:  # pragma: no cover - openmm is a dependency
        raise EngineNotFoundError(
            "OpenMM is not installed", field="backend", fix="pip install openmm"
        ) from exc
    return openmm, unit


def best_platform() -> str:
    """CUDA if OpenMM can use it, else CPU."""
    openmm, _ = _openmm()
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    return "CUDA" if "CUDA" in names else "CPU"


class OpenMMBackend:
    """Run an ``openmm.System`` in chunks for :class:`~phyneo_flows.md.runner.MDRunner`."""

    def __init__(
        self,
        system,
        positions,
        box,
        config: MDConfig,
        *,
        platform: str = "CPU",
        velocities=None,
        platform_properties: dict | None = None,
    ):
        openmm, unit = _openmm()
        self.config = config
        self._unit = unit
        self._system = (
            openmm.XmlSerializer.clone(system) if hasattr(openmm.XmlSerializer, "clone") else system
        )
        s = self._system
        if config.ensemble == "npt":
            baro = openmm.MonteCarloBarostat(
                config.pressure_bar, config.temperature_k, config.barostat_interval
            )
            baro.setRandomNumberSeed(config.seed + 2)
            s.addForce(baro)
        if config.ensemble == "nve":
            integ = openmm.VerletIntegrator(config.timestep_ps)
        else:
            integ = openmm.LangevinMiddleIntegrator(
                config.temperature_k, 1.0 / config.tau_t_ps, config.timestep_ps
            )
            integ.setRandomNumberSeed(config.seed + 1)
        self.masses = np.array(
            [s.getParticleMass(i).value_in_unit(unit.dalton) for i in range(s.getNumParticles())]
        )
        try:
            plat = openmm.Platform.getPlatformByName(platform)
        except Exception as exc:
            raise InputError(
                f"OpenMM platform {platform!r} is not available",
                field="platform",
                fix="use Reference or CPU, or install openmm-cuda-12 on a GPU machine",
            ) from exc
        self.platform = platform
        self.context = openmm.Context(s, integ, plat, platform_properties or {})
        b = np.asarray(box, dtype=float)
        self.context.setPeriodicBoxVectors(*[openmm.Vec3(*row) for row in b])
        self.context.setPositions(np.asarray(positions, dtype=float))
        if velocities is None:
            self.context.setVelocitiesToTemperature(config.temperature_k, config.seed + 1)
        else:
            self.context.setVelocities(np.asarray(velocities, dtype=float))
        mol = np.zeros(len(self.masses), dtype=np.int64)
        for k, atoms in enumerate(self.context.getMolecules()):
            mol[list(atoms)] = k
        self.molecules = mol
        n_constraints = s.getNumConstraints()
        has_cm = any(isinstance(s.getForce(i), openmm.CMMotionRemover) for i in range(s.getNumForces()))
        self.nf = 3 * len(self.masses) - n_constraints - (3 if has_cm else 0)
        self.timestep_ps = config.timestep_ps

    @property
    def step(self) -> int:
        return int(self.context.getStepCount())

    @property
    def steps_per_chunk(self) -> int:
        return self.config.report_interval * self.config.frames_per_chunk

    @property
    def timestep_ps(self) -> float:
        dt = self.context.getIntegrator().getStepSize()
        return float(dt.value_in_unit(self._unit.picosecond) if hasattr(dt, "value_in_unit") else dt)

    @timestep_ps.setter
    def timestep_ps(self, value: float) -> None:
        self.context.getIntegrator().setStepSize(value)

    def volume(self) -> float:
        u = self._unit
        return float(self.context.getState().getPeriodicBoxVolume().value_in_unit(u.nanometer**3))

    def fingerprint(self) -> str:
        openmm, _ = _openmm()
        text = self.config.model_dump_json() + self.platform + openmm.XmlSerializer.serialize(self._system)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def chunk(self, velocities: bool = False) -> dict:
        """Advance one chunk; same layout as :meth:`phyneo_flows.md.backend.JaxBackend.chunk` (no pressure
        tensor)."""
        u = self._unit
        integ = self.context.getIntegrator()
        obs: dict[str, list] = {
            k: [] for k in ("step", "time", "potential_energy", "kinetic_energy", "temperature", "volume")
        }
        for _ in range(self.config.frames_per_chunk):
            integ.step(self.config.report_interval)
            st = self.context.getState(getEnergy=True)
            kin = st.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
            obs["step"].append(st.getStepCount())
            obs["time"].append(st.getTime().value_in_unit(u.picosecond))
            obs["potential_energy"].append(st.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole))
            obs["kinetic_energy"].append(kin)
            obs["temperature"].append(2 * kin / (self.nf * BOLTZMANN_KJ_MOL_K))
            obs["volume"].append(st.getPeriodicBoxVolume().value_in_unit(u.nanometer**3))
        st = self.context.getState(getPositions=True, getVelocities=True)
        pos = st.getPositions(asNumpy=True).value_in_unit(u.nanometer)
        vel = st.getVelocities(asNumpy=True).value_in_unit(u.nanometer / u.picosecond)
        box = st.getPeriodicBoxVectors(asNumpy=True).value_in_unit(u.nanometer)
        particles = {
            "step": np.asarray([st.getStepCount()]),
            "time": np.asarray([obs["time"][-1]]),
            "position": np.asarray(pos)[None],
            "box": np.asarray(box)[None],
        }
        if velocities:
            particles["velocity"] = np.asarray(vel)[None]
        dmin, pair = min_intermolecular_distance(np.asarray(pos), np.asarray(box), self.molecules)
        observables = {k: np.asarray(v) for k, v in obs.items()}
        return {
            "particles": particles,
            "observables": observables,
            "terms": {"potential": observables["potential_energy"].copy()},
            "final_velocity": np.asarray(vel),
            "masses": self.masses,
            "min_distance": float(dmin),
            "min_pair": np.asarray(pair),
        }

    def snapshot(self) -> dict[str, np.ndarray]:
        """OpenMM's checkpoint bytes (and the step size) as arrays."""
        return {
            "openmm_checkpoint": np.frombuffer(self.context.createCheckpoint(), dtype=np.uint8).copy(),
            "timestep_ps": np.asarray(self.timestep_ps),
        }

    def restore(self, payload: dict[str, np.ndarray]) -> None:
        self.context.loadCheckpoint(np.asarray(payload["openmm_checkpoint"], dtype=np.uint8).tobytes())
        self.timestep_ps = float(payload["timestep_ps"])
