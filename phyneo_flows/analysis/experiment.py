"""Experimental (and published simulation) reference values, shown beside each prediction.

The package ships ``data/experiments.yaml``; a user file of the same shape (a top-level ``entries``
list) adds entries or replaces those with the same (system, property, temperature_k). The path of the
user file is passed in by the caller (from the settings object); this module reads no environment.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from phyneo_flows.errors import InputError

PACKAGED_TABLE = Path(__file__).parent / "data" / "experiments.yaml"


class ExperimentalValue(BaseModel):
    """One measured (or published reference) value with its literature source."""

    model_config = ConfigDict(extra="forbid")

    system: str
    property: str
    value: float
    unit: str
    temperature_k: float | None = None
    source: str
    doi: str | None = None
    uncertainty: float | None = None
    note: str | None = None

    @property
    def key(self) -> tuple[str, str, float | None]:
        """(system, property, temperature rounded to 0.1 K): the identity used for overrides."""
        t = None if self.temperature_k is None else round(self.temperature_k, 1)
        return (self.system.strip().lower(), self.property.strip().lower(), t)


def _read(path: Path) -> list[ExperimentalValue]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"experiment table {path} not found", field="experiments_file") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"cannot parse {path}: {exc}", field="experiments_file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise InputError(f"{path} needs a top-level 'entries' list", field="experiments_file",
                         fix="see phyneo_flows/analysis/data/experiments.yaml for the format")
    out = []
    for i, entry in enumerate(data["entries"]):
        try:
            out.append(ExperimentalValue.model_validate(entry))
        except ValidationError as exc:
            raise InputError(f"entry {i} of {path} is invalid: {exc.errors()[0]['msg']}",
                             field=f"experiments_file:entries[{i}]",
                             fix="each entry needs system, property, value, unit and source") from exc
    return out


def load_experiments(extra_path: str | Path | None = None) -> list[ExperimentalValue]:
    """The packaged table, extended (and overridden where the key matches) by ``extra_path``."""
    table = {e.key: e for e in _read(PACKAGED_TABLE)}
    if extra_path is not None:
        for e in _read(Path(extra_path)):
            table[e.key] = e
    return list(table.values())


def lookup(system: str, prop: str, temperature_k: float | None = None, *, tolerance_k: float = 2.0,
           extra_path: str | Path | None = None) -> list[ExperimentalValue]:
    """Entries for ``system`` and ``prop`` (case-insensitive), within ``tolerance_k`` of the temperature
    when one is given, nearest temperature first."""
    s, p = system.strip().lower(), prop.strip().lower()
    hits = [e for e in load_experiments(extra_path) if e.system.strip().lower() == s
            and e.property.strip().lower() == p]
    if temperature_k is not None:
        hits = [e for e in hits if e.temperature_k is not None and abs(e.temperature_k - temperature_k)
                <= tolerance_k]
        hits.sort(key=lambda e: abs(e.temperature_k - temperature_k))
    return hits
