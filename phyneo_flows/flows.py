"""The whole pipeline as one Maker. Stages join as they are built.

Today: formulation -> packed box -> dimer sampling -> SAPT per pair type. Next (issues 5-7): monomer
properties, the physics fit, residual networks, MD and properties beside experiment.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import Formulation
from phyneo_flows.profiles import Profile
from phyneo_flows.qm.stage_jobs import SaptStageMaker
from phyneo_flows.sampling.dimers import pair_type
from phyneo_flows.sampling.jobs import DimerSamplingMaker


@dataclass
class PhyneoElectrolyteMaker(Maker):
    """Formulation -> box -> dimers -> SAPT (-> properties, fit, residuals, MD: coming).

    ``with_qm=False`` stops after sampling (no psi4 runs)."""

    name: str = "phyneo electrolyte"
    box_maker: BoxMaker = field(default_factory=BoxMaker)
    sampling_maker: DimerSamplingMaker = field(default_factory=DimerSamplingMaker)
    sapt_maker: SaptStageMaker = field(default_factory=SaptStageMaker)
    sapt_pair_types: list[str] | None = None
    with_qm: bool = True

    @classmethod
    def from_profile(cls, profile: Profile, with_qm: bool = True) -> PhyneoElectrolyteMaker:
        return cls(
            box_maker=BoxMaker(n_atoms=profile.box.atoms),
            sampling_maker=DimerSamplingMaker(poses_per_pair=profile.sampling.poses_per_pair,
                                              cutoff_nm=profile.sampling.cutoff_nm,
                                              scan_contacts_a=tuple(profile.sampling.scan_contacts_a)),
            sapt_maker=SaptStageMaker(method=profile.sapt.method, basis=profile.sapt.basis,
                                      max_dimers=profile.sapt.max_dimers_per_pair),
            sapt_pair_types=profile.sapt.pair_types, with_qm=with_qm)

    def pair_types(self, formulation: Formulation) -> list[str]:
        names = [s.name for s in formulation.species()]
        every = [pair_type(a, b) for a, b in itertools.combinations_with_replacement(names, 2)]
        return [p for p in every if self.sapt_pair_types is None or p in self.sapt_pair_types]

    def make(self, formulation: Formulation, until: str | None = None) -> Flow:
        """The flow up to and including stage ``until`` (box | sampling | sapt; default: every stage)."""
        data = formulation.model_dump(mode="json")
        jobs: list[Job] = []

        def stage(job: Job, stage_name: str, label: str) -> Job:
            job.name = f"{formulation.name} {label}"
            job.metadata.update({"formulation": formulation.name, "stage": stage_name, "generation": 0})
            jobs.append(job)
            return job

        box = stage(self.box_maker.make(data), "box", "box")
        if until == "box":
            return Flow(jobs, output=box.output, name=f"{formulation.name} {self.name}")
        sampling = stage(self.sampling_maker.make(box.output), "sampling", "sampling")
        if self.with_qm and until != "sampling":
            for pt in self.pair_types(formulation):
                stage(self.sapt_maker.make(sampling.output, pt), "sapt", f"sapt {pt}")
        return Flow(jobs, output=box.output, name=f"{formulation.name} {self.name}")

    def stage_keys(self, formulation: Formulation, until: str | None = None) -> dict[str, str]:
        """The input hash of every stage up to ``until``, to find finished work before running."""
        box_key = self.box_maker.key(formulation.model_dump(mode="json"))
        keys = {"box": box_key}
        if until == "box":
            return keys
        keys["sampling"] = sampling_key = self.sampling_maker.key(box_key)
        if self.with_qm and until != "sampling":
            keys |= {f"sapt {pt}": self.sapt_maker.key(sampling_key, pt) for pt in self.pair_types(formulation)}
        return keys
