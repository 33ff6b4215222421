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


class Profile(BaseModel):
    """Sizes and levels of every stage; fields are added as stages arrive."""

    model_config = ConfigDict(extra="allow")
    name: str
    box: BoxProfile = BoxProfile()


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
