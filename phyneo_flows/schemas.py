"""Output documents of the workflow stages (what lands in the JobStore).

Every document names its formulation, its stage and the force-field generation it belongs to. Large
arrays are fields listed in the job's ``data=[...]`` and go to the ``data`` store.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from phyneo_flows import __version__
from phyneo_flows.formulation import Composition


class StageDocument(BaseModel):
    """Fields every stage's output carries."""

    formulation: str
    stage: str
    generation: int = 0
    input_hash: str = Field("", description="hash of everything the result depends on (for reuse)")
    phyneo_version: str = __version__
    wall_time_s: float | None = None
    cores: int | None = None
    reused_from: str | None = Field(None, description="uuid of the job that computed this, when reused")


class SpeciesRecord(BaseModel):
    name: str
    smiles: str
    charge: int
    count: int
    n_atoms: int
    atom_types: list[str]


class BoxDocument(StageDocument):
    """A packed box: counts, realised concentrations, the PDB and the positions."""

    stage: str = "box"
    composition: Composition
    species: list[SpeciesRecord]
    n_atoms: int
    box_length_nm: float
    density_g_cm3: float
    min_intermolecular_distance_nm: float
    seed: int
    packmol_version: str
    pdb: str = Field(description="PDB text with CRYST1 and CONECT (data store)")
    positions_nm: list[list[float]] = Field(description="(n_atoms, 3) in nm (data store)")


def available_cores() -> int:
    """Cores this process may use (its CPU affinity), for a stage document's ``cores``."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def as_dict(doc: Any) -> dict:
    """A stage output as a plain dict: jobflow hands stored documents back as pydantic objects or dicts."""
    return doc.model_dump(mode="json") if isinstance(doc, BaseModel) else dict(doc)


def input_hash(*parts: Any) -> str:
    """A stable hash of JSON-able inputs."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class SamplingDocument(StageDocument):
    """Dimers for reference QM: per pair type, COM scans of diverse poses (geometry in the data store)."""

    stage: str = "sampling"
    counts: dict[str, int] = Field(description="dimers per pair type")
    dimers: list[dict[str, Any]] = Field(description="pair_type, source, closest_contact_a, dimer (qm Dimer data)")


class ExperimentValue(BaseModel):
    """A measured value and where it was published."""

    value: float
    unit: str
    source: str
    temperature_k: float | None = None
    uncertainty: float | None = None


class PropertyRecord(BaseModel):
    """One predicted bulk property with its uncertainty, method and the experiment beside it."""

    name: str = Field(description="density | viscosity | conductivity | diffusion_<species> | ...")
    value: float
    uncertainty: float | None
    unit: str
    method: str
    temperature_k: float | None = None
    experiment: ExperimentValue | None = None
    details: dict[str, Any] = {}


class PropertiesDocument(StageDocument):
    """The bulk properties predicted for a formulation by one force-field generation."""

    stage: str = "properties"
    properties: list[PropertyRecord]
    skipped: dict[str, str] = Field({}, description="property -> why it was not computed (run too short, ...)")
    trajectory: str | None = Field(None, description="the H5MD file the properties were computed from")
    md_job_key: str | None = Field(None, description="input hash of the MD stage that wrote the trajectory")
