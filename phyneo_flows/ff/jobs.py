"""jobflow Makers over the force-field core (thin wrappers; the core imports nothing from jobflow)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Maker, job

from phyneo_flows.ff.compare import Comparison, compare
from phyneo_flows.ff.model import FFSettings
from phyneo_flows.ff.params import ForceFieldParams


@job(output_schema=Comparison)
def compare_job(params: dict, molecule_names: list[str], positions: list, box, settings: dict,
                pme_spacing: float) -> Comparison:
    """JAX vs OpenMM per-term comparison as a stored document."""
    return compare(ForceFieldParams.model_validate(params), molecule_names, positions, box,
                   FFSettings(**settings), pme_spacing=pme_spacing)


@dataclass
class CompareMaker(Maker):
    """Compare the JAX model with its OpenMM twin for one configuration."""

    name: str = "ff compare"
    settings: dict = field(default_factory=dict)
    pme_spacing: float = 0.04

    def make(self, params: ForceFieldParams, molecule_names: list[str], positions, box=None):
        pos = [list(map(float, p)) for p in positions]
        j = compare_job(params.model_dump(mode="json"), list(molecule_names), pos, box, self.settings,
                        self.pme_spacing)
        j.name = self.name
        return j
