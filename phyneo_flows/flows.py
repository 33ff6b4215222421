"""The whole pipeline as one Maker. Stages join as they are built; today: formulation -> packed box."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Maker

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import Formulation
from phyneo_flows.profiles import Profile


@dataclass
class PhyneoElectrolyteMaker(Maker):
    """Formulation -> species and box -> (monomer properties, sampling, QM, fit, MD: coming)."""

    name: str = "phyneo electrolyte"
    box_maker: BoxMaker = field(default_factory=BoxMaker)

    @classmethod
    def from_profile(cls, profile: Profile) -> PhyneoElectrolyteMaker:
        return cls(box_maker=BoxMaker(n_atoms=profile.box.atoms))

    def make(self, formulation: Formulation) -> Flow:
        data = formulation.model_dump(mode="json")
        box = self.box_maker.make(data)
        box.name = f"{formulation.name} box"
        box.metadata.update({"formulation": formulation.name, "stage": "box", "generation": 0})
        return Flow([box], output=box.output, name=f"{formulation.name} {self.name}")

    def stage_keys(self, formulation: Formulation) -> dict[str, str]:
        """The input hash of every stage, to find finished work in the store."""
        return {"box": self.box_maker.key(formulation.model_dump(mode="json"))}
