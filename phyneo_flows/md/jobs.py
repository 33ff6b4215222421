"""Jobflow Makers over the MD core (the core imports nothing from jobflow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, Field

from phyneo_flows.md.guard import GuardConfig, Trip
from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.reuse import REUSE_CONFIG
from phyneo_flows.schemas import StageDocument, available_cores


class MDRunDocument(BaseModel):
    """The stored record of an MD run (trajectory on disk; final positions in the data store)."""

    stage: str = "md"
    backend: str
    directory: str
    trajectory: str
    config: MDConfig
    n_atoms: int
    n_steps: int
    timestep_ps: float
    trips: list[Trip] = Field(default_factory=list)
    ns_per_day: float
    final_box_nm: list[list[float]]
    final_positions_nm: list[list[float]] = Field(description="(N, 3) nm (data store)")


@dataclass
class ForceFieldMDMaker(Maker):
    """Minimise (optional) and run the hybrid force field on the JAX back end, resumable in ``directory``.

    ``make(params, molecule_names, positions_nm, box_nm, directory)``: ``params`` a ForceFieldParams dict,
    ``box_nm`` a 3x3 matrix or an edge length.
    """

    name: str = "md"
    config: MDConfig = field(default_factory=MDConfig)
    n_steps: int = 1000
    minimise: bool = True
    guard: GuardConfig = field(default_factory=GuardConfig)
    checkpoint_interval_chunks: int = 10
    write_velocities: bool = False
    cutoff_nm: float = 0.9

    @job(data=["final_positions_nm"])
    def make(self, params: dict, molecule_names: list[str], positions_nm: list, box_nm, directory: str):
        from phyneo_flows.ff.model import FFSettings, ForceField, as_box
        from phyneo_flows.ff.params import ForceFieldParams
        from phyneo_flows.md.backend import JaxBackend
        from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
        from phyneo_flows.md.minimize import minimize
        from phyneo_flows.md.runner import CHECKPOINT, MDRunner

        ff = ForceField(
            ForceFieldParams.model_validate(params), molecule_names, FFSettings(cutoff=self.cutoff_nm)
        )
        box = as_box(box_nm)
        pot = force_field_potential(ff, box)
        pos = np.asarray(positions_nm, dtype=float)
        if self.minimise and not (Path(directory) / CHECKPOINT).exists():
            pos, _ = minimize(pot, pos, box)
        backend = JaxBackend(pot, atom_masses(ff), pos, box, self.config, molecules=ff.system.mol)
        report = MDRunner(
            backend,
            directory,
            checkpoint_interval_chunks=self.checkpoint_interval_chunks,
            write_velocities=self.write_velocities,
            guard=self.guard,
        ).run(self.n_steps)
        return MDRunDocument(
            backend="jax",
            directory=directory,
            trajectory=report.trajectory,
            config=self.config,
            n_atoms=len(pos),
            n_steps=report.n_steps,
            timestep_ps=report.timestep_ps,
            trips=report.trips,
            ns_per_day=report.ns_per_day,
            final_box_nm=np.asarray(backend.state.box).tolist(),
            final_positions_nm=np.asarray(backend.state.positions).tolist(),
        )


# ---------------------------------------------------------------------------------------------------------
# The pipeline's MD stage: NPT of a stored box with the current generation's parameters.


class MDSpecies(BaseModel):
    """One species of the simulated box, enough for the analysis to rebuild molecules and ions."""

    name: str
    count: int
    n_atoms: int
    charge: int
    atom_masses_amu: list[float]


def literature_params(species: list[str]) -> dict:
    """Generation-0 parameters (``phyneo_flows.ff.literature``) for ``species``, as a ForceFieldParams dict."""
    from phyneo_flows.errors import InputError
    from phyneo_flows.ff import literature
    from phyneo_flows.ff.params import ForceFieldParams

    missing = [s for s in species if s not in literature.CHARGES]
    if missing:
        raise InputError(f"no generation-0 parameters for {', '.join(missing)}", field="species",
                         fix="plug a fit stage into PhyneoElectrolyteMaker (fit_maker) or add the species' "
                             "charges to phyneo_flows.ff.literature.CHARGES")
    return ForceFieldParams(
        description=f"generation 0 (literature-like) parameters for {', '.join(species)}",
        provenance={"generator": "phyneo_flows.ff.literature", "generation": 0, "qm_jobs": []},
        molecules={s: literature.molecule_params(s) for s in species},
    ).model_dump(mode="json")


def auto_cutoff(box_length_nm: float, skin_nm: float = 0.1, largest_nm: float = 0.9) -> float:
    """The pair cutoff (nm) a cubic box allows: at most ``largest_nm``, and cutoff + skin below 0.45 L so
    that an NPT box may shrink by 10 % before the neighbour list breaks the minimum image."""
    return round(min(largest_nm, 0.45 * box_length_nm - skin_nm), 3)


@dataclass
class MDStageMaker(Maker):
    """NPT MD of a stored box (a BoxDocument) with the hybrid force field on the JAX back end.

    ``make(box, params=None, ff_key="generation-0", generation=0)``: ``params`` a ForceFieldParams dict
    from the fit stage, or None for the generation-0 literature parameters of the box's species. The run
    lives in ``work_dir/<input hash>``: a run that was killed continues from its last checkpoint, and a
    finished one is read back from the store. ``npt_ps`` of production at ``timestep_fs`` (rounded up to
    whole chunks); equilibration is detected afterwards by the analysis, not assumed.
    """

    name: str = "md npt"
    npt_ps: float = 50.0
    timestep_fs: float = 1.0
    backend: str = "jax"
    temperature_k: float | None = None  # default 298.15 K; the flow passes the formulation's
    pressure_bar: float | None = None  # default 1 bar
    cutoff_nm: float | None = None  # default: auto_cutoff of the box
    polarization: str = "mutual"
    report_interval: int = 10
    frames_per_chunk: int = 10
    minimise_iterations: int = 200
    checkpoint_interval_chunks: int = 5
    seed: int = 0
    work_dir: str | None = None
    hydrogen_mass_amu: float | None = None  # hydrogen mass repartitioning (e.g. 3.024): density only, no transport
    induced_tolerance_debye: float | None = None  # RMS induced-dipole change that ends the solver (FF default)
    pme_spacing_nm: float | None = None  # largest PME grid spacing (FF default 0.04 nm)

    def protocol(self) -> dict:
        out = {"npt_ps": self.npt_ps, "timestep_fs": self.timestep_fs, "backend": self.backend,
               "temperature_k": self.temperature_k, "pressure_bar": self.pressure_bar,
               "cutoff_nm": self.cutoff_nm, "polarization": self.polarization,
               "report_interval": self.report_interval, "frames_per_chunk": self.frames_per_chunk,
               "minimise_iterations": self.minimise_iterations, "seed": self.seed}
        if self.hydrogen_mass_amu is not None:  # only when set, so earlier runs keep their keys
            out["hydrogen_mass_amu"] = self.hydrogen_mass_amu
        if self.induced_tolerance_debye is not None:
            out["induced_tolerance_debye"] = self.induced_tolerance_debye
        if self.pme_spacing_nm is not None:
            out["pme_spacing_nm"] = self.pme_spacing_nm
        return out

    def key(self, box_key: str, ff_key: str) -> str:
        from phyneo_flows.schemas import input_hash

        return input_hash("md", box_key, ff_key, self.protocol())

    def n_steps(self) -> int:
        per = self.report_interval * self.frames_per_chunk
        steps = int(np.ceil(self.npt_ps / (self.timestep_fs * 1e-3) - 1e-9))
        return max(per, int(np.ceil(steps / per)) * per)

    @job(data=["final_positions_nm", "traces"], config=REUSE_CONFIG)
    def make(self, box, params: dict | None = None, ff_key: str = "generation-0", generation: int = 0,
             ensemble_dirs: list[str] | None = None):
        """``ensemble_dirs``: saved residual ensembles (the fit's ``ensemble_dirs``), each added to the force
        field as a term ``residual_<pair type>``; their weights are part of the fit, so ``ff_key`` covers them."""
        import time

        from phyneo_flows.errors import InputError
        from phyneo_flows.ff.model import FFSettings, ForceField
        from phyneo_flows.ff.params import ForceFieldParams
        from phyneo_flows.md.backend import JaxBackend
        from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
        from phyneo_flows.md.minimize import minimize
        from phyneo_flows.md.runner import CHECKPOINT, MDRunner
        from phyneo_flows.reuse import previous

        if isinstance(box, BaseModel):
            box = box.model_dump()
        key = self.key(box.get("input_hash", ""), ff_key)
        if (done := previous("md", key)) is not None:
            return MDStageDocument.model_validate(done)
        if self.backend != "jax":
            raise InputError(f"MD back end {self.backend!r} is not wired into the pipeline", field="md.backend",
                             fix="use backend: jax (the OpenMM twin lacks the pressure tensor and residuals)")
        start = time.perf_counter()
        names = [s["name"] for s in box["species"]]
        params = params if params is not None else literature_params(names)
        molecule_names = [s["name"] for s in box["species"] for _ in range(s["count"])]
        length = float(box["box_length_nm"])
        cutoff = self.cutoff_nm or auto_cutoff(length)
        ff_settings = {"cutoff": cutoff, "polarization": self.polarization}
        if self.induced_tolerance_debye is not None:
            ff_settings["induced_tolerance"] = self.induced_tolerance_debye
        if self.pme_spacing_nm is not None:
            ff_settings["pme_spacing"] = self.pme_spacing_nm
        ff = ForceField(ForceFieldParams.model_validate(params), molecule_names, FFSettings(**ff_settings),
                        extra_terms=residual_terms(ensemble_dirs or [], box))
        temperature = self.temperature_k or 298.15
        pressure = self.pressure_bar if self.pressure_bar is not None else 1.0
        config = MDConfig(ensemble="npt", timestep_ps=self.timestep_fs * 1e-3, temperature_k=temperature,
                          pressure_bar=pressure, report_interval=self.report_interval,
                          frames_per_chunk=self.frames_per_chunk, seed=self.seed)
        directory = Path(self.work_dir or Path.cwd() / "md") / key
        pot = force_field_potential(ff, length)
        pos = np.asarray(box["positions_nm"], dtype=float)
        if pos.shape[0] != ff.n:
            raise InputError(f"the box has {pos.shape[0]} atoms, the force field {ff.n}", field="params",
                             fix="use parameters made for the box's species")
        if self.minimise_iterations and not (directory / CHECKPOINT).exists():
            pos, _ = minimize(pot, pos, np.eye(3) * length, max_iterations=self.minimise_iterations)
        masses = atom_masses(ff)
        if self.hydrogen_mass_amu is not None:
            from phyneo_flows.md.integrators import repartition_hydrogen_masses

            masses = repartition_hydrogen_masses(masses, ff.system.bonds, self.hydrogen_mass_amu)
        backend = JaxBackend(pot, masses, pos, np.eye(3) * length, config, molecules=ff.system.mol)
        report = MDRunner(backend, directory, checkpoint_interval_chunks=self.checkpoint_interval_chunks).run(
            self.n_steps())
        species, offset = [], 0
        for s in box["species"]:
            species.append(MDSpecies(name=s["name"], count=s["count"], n_atoms=s["n_atoms"], charge=s["charge"],
                                     atom_masses_amu=masses[offset:offset + s["n_atoms"]].tolist()))
            offset += s["n_atoms"] * s["count"]
        return MDStageDocument(
            formulation=box["formulation"], generation=generation, input_hash=key, backend=self.backend,
            directory=str(directory), trajectory=report.trajectory, ff_key=ff_key, config=config,
            cutoff_nm=cutoff, n_atoms=ff.n, n_steps=report.n_steps, npt_ps=report.n_steps * config.timestep_ps,
            timestep_ps=report.timestep_ps, trips=report.trips,
            hydrogen_mass_amu=self.hydrogen_mass_amu, ns_per_day=report.ns_per_day,
            resumed_from_step=report.resumed_from_step, species=species, total_mass_amu=float(masses.sum()),
            traces=md_traces(report.trajectory, float(masses.sum())),
            final_box_nm=np.asarray(backend.state.box).tolist(),
            final_positions_nm=np.asarray(backend.state.positions).tolist(),
            wall_time_s=time.perf_counter() - start, cores=available_cores())


def residual_terms(ensemble_dirs: list[str], box: dict) -> dict:
    """{``residual_<pair type>``: JAX energy term} of each saved ensemble over the molecules of a stored box."""
    if not ensemble_dirs:
        return {}
    from phyneo_flows.fitting.residual import load_ensemble
    from phyneo_flows.sampling.jobs import box_topology

    index, species, symbols, charges = box_topology(box)
    terms = {}
    for d in ensemble_dirs:
        ens = load_ensemble(d)
        name = "residual_" + "_".join(ens.config.pair_types or ("ions",))
        terms[name] = ens.energy_term(symbols, index, species, [charges[s] for s in species])
    return terms


def md_traces(trajectory: str, total_mass_amu: float, max_points: int = 400) -> dict[str, list[float]]:
    """Density (g/cm^3), potential energy (kJ/mol) and temperature (K) against time (ps), thinned to at most
    ``max_points`` points: what the report plots."""
    from phyneo_flows.md.trajectory import read_h5md
    from phyneo_flows.units import AVOGADRO

    data = read_h5md(trajectory)
    every = max(1, int(np.ceil(len(data["time"]) / max_points)))
    density = total_mass_amu / np.asarray(data["volume"]) * 1e21 / AVOGADRO
    return {"time_ps": data["time"][::every].tolist(), "density_g_cm3": density[::every].tolist(),
            "potential_energy_kj_mol": data["potential_energy"][::every].tolist(),
            "temperature_k": data["temperature"][::every].tolist()}


class MDStageDocument(StageDocument):
    """The pipeline's record of an NPT run: where its trajectory is and what the analysis needs."""

    stage: str = "md"
    backend: str
    directory: str
    trajectory: str = Field(description="H5MD file (nm, ps, kJ/mol, bar)")
    ff_key: str = Field(description="'generation-0' (literature parameters) or the input hash of the fit")
    config: MDConfig
    cutoff_nm: float
    n_atoms: int
    n_steps: int
    npt_ps: float
    timestep_ps: float
    hydrogen_mass_amu: float | None = Field(None, description="set: hydrogen masses repartitioned (amu); the "
                                            "dynamics are not physical, so no transport property is computed")
    trips: list[Trip] = Field(default_factory=list)
    ns_per_day: float
    resumed_from_step: int | None = None
    species: list[MDSpecies]
    total_mass_amu: float
    traces: dict[str, list[float]] = Field(description="time_ps, density, energy, temperature (data store)")
    final_box_nm: list[list[float]]
    final_positions_nm: list[list[float]] = Field(description="(N, 3) nm (data store)")
