"""The whole pipeline as one Maker.

formulation -> box -> dimer sampling -> SAPT per pair type -> [fit: a plugged Maker] -> MD box -> NPT MD
-> properties beside experiment. Every job's metadata and output name its formulation, stage and
force-field generation; every stage job looks for its own input hash in the store first (phyneo_flows.reuse),
so a rerun, or a new formulation sharing stages with an old one, computes only what is new. The MD stage
runs in ``work_dir/<input hash>`` and continues from its checkpoint after a crash.

The fit slot (``fit_maker``): any Maker with ``key(sapt_keys: list[str]) -> str`` and
``make(box, sapt: list, formulation: dict) -> Job | Flow`` whose output has ``params`` (a ForceFieldParams
dict), ``generation`` and ``input_hash``. Without one, MD uses the generation-0 literature parameters.
See docs/pipeline.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Maker

from phyneo_flows.analysis.jobs import PropertiesMaker
from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.errors import InputError
from phyneo_flows.formulation import Formulation
from phyneo_flows.md.jobs import MDStageMaker
from phyneo_flows.profiles import Profile
from phyneo_flows.qm.stage_jobs import SaptStageMaker
from phyneo_flows.sampling.dimers import pair_type
from phyneo_flows.sampling.jobs import DimerSamplingMaker

STAGES = ("box", "sampling", "sapt", "monomers", "fit", "md", "properties")


@dataclass
class PhyneoElectrolyteMaker(Maker):
    """Formulation -> box -> dimers -> SAPT -> (fit) -> MD -> properties.

    ``from_profile`` plugs in the physics fit (``PipelineFitMaker``) when the profile's ``fit.enabled``.

    ``with_qm=False`` leaves out the SAPT stage (and the fit, which needs it); ``md_box_maker`` None runs
    MD in the sampling box."""

    name: str = "phyneo electrolyte"
    box_maker: BoxMaker = field(default_factory=BoxMaker)
    sampling_maker: DimerSamplingMaker = field(default_factory=DimerSamplingMaker)
    sapt_maker: SaptStageMaker = field(default_factory=SaptStageMaker)
    sapt_pair_types: list[str] | None = None
    with_qm: bool = True
    fit_maker: Any = None  # the insertion point of the physics fit and the residual networks (see module doc)
    monomers_maker: Any = None  # a MonomersStageMaker: the fit's monomer properties computed in the flow
    md_box_maker: BoxMaker | None = None
    md_maker: MDStageMaker = field(default_factory=MDStageMaker)
    properties_maker: PropertiesMaker = field(default_factory=PropertiesMaker)
    active_maker: Any = None  # a NextGenerationMaker: later generations where the residual ensemble disagrees
    disagreement_maker: Any = None  # the DisagreementSamplingMaker it and the first decision use

    @classmethod
    def from_profile(cls, profile: Profile, with_qm: bool = True, work_dir: str | None = None,
                     fit_maker: Any = None) -> PhyneoElectrolyteMaker:
        md = profile.md
        plugged = fit_maker is not None  # a fit Maker of the caller's: later generations only if it has residuals
        if fit_maker is None and profile.fit.enabled:
            from phyneo_flows.fitting.pipeline import PipelineFitMaker

            root = Path(__file__).resolve().parent.parent
            def path(p: str) -> str:
                return p if Path(p).is_absolute() else str(root / p)

            fit_maker = PipelineFitMaker(
                known_params=path(profile.fit.known_params) if profile.fit.known_params else None,
                property_files={s: path(p) for s, p in profile.fit.property_files.items()},
                fit_settings=dict(profile.fit.settings), residual=profile.fit.residual,
                extra_dimers=[path(p) for p in profile.fit.extra_dimers],
                work_dir=None if work_dir is None else str(Path(work_dir).parent / "fit"))
        monomers_maker = None
        if profile.monomers.enabled and fit_maker is not None and not plugged:
            from phyneo_flows.qm.stage_jobs import MonomersStageMaker

            known = []
            if fit_maker.known_params:
                from phyneo_flows.ff.params import load_params

                known = list(load_params(fit_maker.known_params).molecules)
            monomers_maker = MonomersStageMaker(method=profile.monomers.method, basis=profile.monomers.basis,
                                                skip=tuple(sorted({*known, *fit_maker.property_files})))
        same_box = md.atoms is None or md.atoms == profile.box.atoms
        made = cls(monomers_maker=monomers_maker,
            box_maker=BoxMaker(n_atoms=profile.box.atoms),
            sampling_maker=DimerSamplingMaker(poses_per_pair=profile.sampling.poses_per_pair,
                                              cutoff_nm=profile.sampling.cutoff_nm,
                                              scan_contacts_a=tuple(profile.sampling.scan_contacts_a)),
            sapt_maker=SaptStageMaker(method=profile.sapt.method, basis=profile.sapt.basis,
                                      max_dimers=profile.sapt.max_dimers_per_pair),
            sapt_pair_types=profile.sapt.pair_types, with_qm=with_qm, fit_maker=fit_maker,
            md_box_maker=None if same_box else BoxMaker(n_atoms=md.atoms),
            md_maker=MDStageMaker(npt_ps=md.npt_ps, timestep_fs=md.timestep_fs, backend=md.backend,
                                  cutoff_nm=md.cutoff_nm, polarization=md.polarization,
                                  report_interval=md.report_interval, frames_per_chunk=md.frames_per_chunk,
                                  minimise_iterations=md.minimise_iterations, work_dir=work_dir,
                                  hydrogen_mass_amu=md.hydrogen_mass_amu,
                                  induced_tolerance_debye=md.induced_tolerance_debye,
                                  pme_spacing_nm=md.pme_spacing_nm))
        if profile.active.enabled:
            from phyneo_flows.generations import NextGenerationMaker
            from phyneo_flows.sampling.jobs import DisagreementSamplingMaker

            act = profile.active
            if not plugged and (made.fit_maker is None or getattr(made.fit_maker, "residual", None) is None):
                raise InputError("later generations need a fit with residual networks", field="active.enabled",
                                 fix="set fit.enabled and fit.residual in the profile, or active.enabled: false")
            made.disagreement_maker = DisagreementSamplingMaker(
                n_per_pair=act.n_per_pair, threshold_kj_mol=act.threshold_kj_mol, cutoff_nm=act.cutoff_nm,
                scan_contacts_a=tuple(profile.sampling.scan_contacts_a))
            made.active_maker = NextGenerationMaker(max_generations=act.max_generations)
        return made

    def pair_types(self, formulation: Formulation) -> list[str]:
        names = [s.name for s in formulation.species()]
        every = [pair_type(a, b) for a, b in itertools.combinations_with_replacement(names, 2)]
        return [p for p in every if self.sapt_pair_types is None or p in self.sapt_pair_types]

    def _md_maker(self, formulation: Formulation) -> MDStageMaker:
        from dataclasses import replace

        return replace(self.md_maker, temperature_k=self.md_maker.temperature_k or formulation.temperature,
                       pressure_bar=self.md_maker.pressure_bar if self.md_maker.pressure_bar is not None
                       else formulation.pressure)

    @staticmethod
    def _check_until(until: str | None) -> None:
        if until is not None and until not in STAGES:
            raise InputError(f"unknown stage {until!r}", field="--until", fix=f"use one of {', '.join(STAGES)}")

    def _wanted(self, until: str | None) -> set[str]:
        self._check_until(until)
        wanted = set(STAGES if until is None else STAGES[: STAGES.index(until) + 1])
        if not self.with_qm:
            wanted -= {"sapt", "fit"}
        if self.fit_maker is None:
            wanted.discard("fit")
        if self.monomers_maker is None or "fit" not in wanted:
            wanted.discard("monomers")
        return wanted

    def check(self, formulation: Formulation, until: str | None = None) -> None:
        """Raise ``InputError`` before anything runs when a stage cannot run for this formulation (today: MD
        without a fit for species that have no generation-0 parameters)."""
        from phyneo_flows.ff.literature import CHARGES

        if "md" in self._wanted(until) and self.fit_maker is None:
            missing = [s.name for s in formulation.species() if s.name not in CHARGES]
            if missing:
                raise InputError(f"MD needs force-field parameters for {', '.join(missing)}: none without a fit",
                                 field="--until", fix="stop before MD (--until sapt) or plug in a fit stage")

    def make(self, formulation: Formulation, until: str | None = None) -> Flow:
        """The flow up to and including stage ``until`` (box | sampling | sapt | fit | md | properties)."""
        wanted = self._wanted(until)
        data = formulation.model_dump(mode="json")
        jobs: list[Job | Flow] = []
        generation = 1 if "fit" in wanted else 0

        def stage(job: Job | Flow, stage_name: str, label: str, gen: int = 0) -> Job | Flow:
            job.name = f"{formulation.name} {label}"
            for j in job.jobs if isinstance(job, Flow) else [job]:
                j.metadata.update({"formulation": formulation.name, "stage": stage_name, "generation": gen})
            jobs.append(job)
            return job

        box = stage(self.box_maker.make(data), "box", "box")
        output = box.output
        if "sampling" in wanted:
            sampling = stage(self.sampling_maker.make(box.output), "sampling", "sampling")
            output = sampling.output
        sapt = []
        if "sapt" in wanted:
            sapt = [stage(self.sapt_maker.make(sampling.output, pt), "sapt", f"sapt {pt}")
                    for pt in self.pair_types(formulation)]
        params, ff_key = None, "generation-0"
        monomers = None
        if "monomers" in wanted:
            monomers = stage(self.monomers_maker.make(data), "monomers", "monomer properties").output
        if "fit" in wanted:
            fit = stage(self.fit_maker.make(box=box.output, sapt=[s.output for s in sapt], formulation=data,
                                            **({"monomers": monomers} if monomers is not None else {})),
                        "fit", "fit", 1)
            params, ff_key = fit.output.params, self._fit_key(formulation, wanted)
            output = fit.output
        if "md" in wanted:
            md_box = box
            if self.md_box_maker is not None:
                md_box = stage(self.md_box_maker.make(data), "box", "md box")
            with_residual = "fit" in wanted and self._residual_on()
            residual = {"ensemble_dirs": fit.output.ensemble_dirs} if with_residual else {}
            md = stage(self._md_maker(formulation).make(md_box.output, params=params, ff_key=ff_key,
                                                        generation=generation, **residual), "md", "md npt",
                       generation)
            output = md.output
            if "properties" in wanted:
                props = stage(self.properties_maker.make(md.output), "properties", "properties", generation)
                output = props.output
                if with_residual and self.grows(formulation):
                    samp = stage(self.disagreement_maker.make(box.output, generation=generation, frame=md.output,
                                                              ensemble_dir=fit.output.ensemble_dirs),
                                 "sampling", f"sampling (generation {generation + 1})", generation + 1)
                    stage(self._active_maker(formulation).make(samp.output, generation, data, box.output,
                                                               md_box.output, [j.output for j in sapt],
                                                               self._sapt_keys(formulation), monomers=monomers),
                          "generation", "next generation", generation)
        return Flow(jobs, output=output, name=f"{formulation.name} {self.name}")

    def _fit_key(self, formulation: Formulation, wanted: set[str]) -> str:
        if "monomers" not in wanted:  # a plugged fit Maker needs only key(sapt_keys)
            return self.fit_maker.key(self._sapt_keys(formulation))
        return self.fit_maker.key(self._sapt_keys(formulation),
                                  self.monomers_maker.key([s.name for s in formulation.species()]))

    def _residual_on(self) -> bool:
        return self.fit_maker is not None and getattr(self.fit_maker, "residual", None) is not None

    def grows(self, formulation: Formulation) -> bool:
        """Whether the flow ends with a decision on later generations: ``active_maker`` set, a fit with residual
        networks, and some pair type of the formulation that the networks cover (pure solvents have none)."""
        if self.active_maker is None or not self._residual_on():
            return False
        from phyneo_flows.fitting.residual import ResidualConfig

        config = ResidualConfig(**self.fit_maker.residual)
        species = formulation.species()
        return any(config.applies(a.name, b.name, a.charge, b.charge)
                   for a, b in itertools.combinations_with_replacement(species, 2))

    def _active_maker(self, formulation: Formulation):
        from dataclasses import replace

        return replace(self.active_maker, sapt_maker=self.sapt_maker, fit_maker=self.fit_maker,
                       md_maker=self._md_maker(formulation), properties_maker=self.properties_maker,
                       sampling_maker=self.disagreement_maker)

    def _sapt_keys(self, formulation: Formulation) -> list[str]:
        sampling_key = self.sampling_maker.key(self.box_maker.key(formulation.model_dump(mode="json")))
        return [self.sapt_maker.key(sampling_key, pt) for pt in self.pair_types(formulation)]

    def stage_keys(self, formulation: Formulation, until: str | None = None) -> dict[str, str]:
        """The input hash of every stage job up to ``until``, to find finished work before running."""
        wanted = self._wanted(until)
        data = formulation.model_dump(mode="json")
        box_key = self.box_maker.key(data)
        keys = {"box": box_key}
        if "sampling" in wanted:
            keys["sampling"] = sampling_key = self.sampling_maker.key(box_key)
        if "sapt" in wanted:
            keys |= {f"sapt {pt}": self.sapt_maker.key(sampling_key, pt) for pt in self.pair_types(formulation)}
        ff_key = "generation-0"
        if "monomers" in wanted:
            keys["monomers"] = self.monomers_maker.key([s.name for s in formulation.species()])
        if "fit" in wanted:
            keys["fit"] = ff_key = self._fit_key(formulation, wanted)
        if "md" in wanted:
            md_box_key = box_key
            if self.md_box_maker is not None:
                keys["md box"] = md_box_key = self.md_box_maker.key(data)
            keys["md"] = md_key = self._md_maker(formulation).key(md_box_key, ff_key)
            if "properties" in wanted:
                keys["properties"] = self.properties_maker.key(md_key)
        return keys
