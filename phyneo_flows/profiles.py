"""Run profiles: how big and how thorough a run is. A profile is data (YAML), not code."""

from __future__ import annotations

from pathlib import Path

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


class Profile(BaseModel):
    """Sizes and levels of every stage; fields are added as stages arrive."""

    model_config = ConfigDict(extra="allow")
    name: str
    box: BoxProfile = BoxProfile()
    sampling: SamplingProfile = SamplingProfile()
    sapt: SaptProfile = SaptProfile()


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
