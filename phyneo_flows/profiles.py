"""Run profiles: how big and how thorough a run is. A profile is data (YAML), not code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from phyneo_flows.errors import InputError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "workflows" / "profiles"


class BoxProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    atoms: int | None = None


class SamplingProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    poses_per_pair: int = 2
    cutoff_nm: float = 0.35
    scan_contacts_a: list[float] = [1.4, 1.84, 2.27, 2.71, 3.15, 3.58, 4.02, 4.45, 4.89, 5.33, 5.76, 6.2]


class SaptProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = "sapt0"
    basis: str = "jun-cc-pvdz"
    max_dimers_per_pair: int | None = None
    pair_types: list[str] | None = None  # default: every pair of the formulation's species


class MDProfile(BaseModel):
    """The NPT validation run: box size, length, time step, back end (nm, ps, fs)."""

    model_config = ConfigDict(extra="forbid")
    atoms: int | None = None  # None: MD in the sampling box
    npt_ps: float = 50.0
    timestep_fs: float = 1.0
    backend: Literal["jax"] = "jax"
    cutoff_nm: float | None = None  # None: the largest the box allows, at most 0.9 nm
    polarization: Literal["mutual", "direct"] = "mutual"
    report_interval: int = 10
    frames_per_chunk: int = 10
    minimise_iterations: int = 200
    hydrogen_mass_amu: float | None = None  # hydrogen mass repartitioning: density only (no transport properties)
    induced_tolerance_debye: float | None = None  # None: the force field's default (1e-8 D)
    pme_spacing_nm: float | None = None  # largest PME grid spacing; None: the force field's default (0.04 nm)


class FitProfile(BaseModel):
    """The physics fit stage (``phyneo_flows.fitting.pipeline.PipelineFitMaker``); off unless ``enabled``.
    Relative paths are read from the repository root."""

    enabled: bool = False
    known_params: str | None = None  # phyneo-ff file of molecules fitted before (frozen, reused)
    property_files: dict[str, str] = {}  # {species: monomer-properties JSON} for molecules still to fit
    settings: dict = {}  # FitSettings fields (steps, learning_rate, test_scans, ...)
    extra_dimers: list[str] = []  # SAPT dimers computed before (JSONL files/folders) that join the training data
    residual: dict | None = None  # ResidualConfig fields: residual ensembles per covered pair type; None: none


class MonomersProfile(BaseModel):
    """Monomer properties computed in the flow (``qm.stage_jobs.MonomersStageMaker``) for the molecules the fit
    needs and neither ``fit.known_params`` nor ``fit.property_files`` gives; off unless ``enabled``."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    method: str = "hf"
    basis: str = "aug-cc-pvdz"


class ActiveProfile(BaseModel):
    """Later force-field generations (``phyneo_flows.generations``): after each generation's MD, dimers where the
    residual ensemble disagrees by more than ``threshold_kj_mol`` go to SAPT and the force field is refitted,
    up to generation ``max_generations``. Needs ``fit.residual`` and a pair type the networks cover."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    max_generations: int = 3
    n_per_pair: int = 2  # poses per pair type a generation adds (each scanned at the sampling contacts)
    threshold_kj_mol: float = 1.0
    cutoff_nm: float = 0.5  # closest contact that makes two molecules of the MD frame a candidate


class StageResources(BaseModel):
    """What one job of a stage (or a stage class: qm, md, training, default) asks a scheduler for."""

    model_config = ConfigDict(extra="forbid")
    cpus: int = 1
    gpus: int = 0
    memory_mb: int | None = None
    walltime: str | None = None

    def describe(self) -> str:
        parts = [f"{self.cpus} cpu" + ("s" if self.cpus > 1 else "")]
        if self.gpus:
            parts.append(f"{self.gpus} gpu" + ("s" if self.gpus > 1 else ""))
        if self.memory_mb is not None:
            parts.append(f"{self.memory_mb} MiB")
        if self.walltime is not None:
            parts.append(self.walltime)
        return ", ".join(parts)


class Profile(BaseModel):
    """Sizes and levels of every stage; fields are added as stages arrive."""

    model_config = ConfigDict(extra="allow")
    name: str
    box: BoxProfile = BoxProfile()
    sampling: SamplingProfile = SamplingProfile()
    sapt: SaptProfile = SaptProfile()
    md: MDProfile = MDProfile()
    fit: FitProfile = FitProfile()
    monomers: MonomersProfile = MonomersProfile()
    active: ActiveProfile = ActiveProfile()
    resources: dict[str, StageResources] = {"default": StageResources()}

    def resources_for(self, stage: str) -> StageResources:
        """The stage's own entry, else its class's (qm: sapt, dft...; md: md, sampling), else default."""
        from phyneo_flows.cluster.config import STAGE_CLASSES

        for name in (stage, STAGE_CLASSES.get(stage), "default"):
            if name in self.resources:
                return self.resources[name]
        return StageResources()


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (``quick``, ``standard``, ``paper``) or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise InputError(f"no profile {name_or_path!r}", field="--profile",
                         fix=f"use one of {', '.join(known)} or the path of a profile YAML")
    try:
        return Profile.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as err:
        raise InputError(f"invalid profile {path}: {err.errors()[0]['msg']}", field="--profile") from None
