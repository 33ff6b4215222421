"""Force-field generations: the flow grows itself while the residual ensemble still disagrees.

After generation g's MD, ``DisagreementSamplingMaker`` cuts the dimers of its last frame where the K members of
generation g's residual ensembles disagree most (``phyneo_flows.sampling.active``). ``NextGenerationMaker``
reads that sampling document and decides:

- some dimer's spread exceeds the threshold, and g < ``max_generations``: it returns the next generation as
  new jobs (jobflow ``Response(addition=...)``): SAPT of the chosen dimers per pair type, a fit of generation
  g + 1 on every SAPT document so far (the new scans are training data, ``DimerRecord.targeted``), NPT MD and
  properties with that force field, and again a disagreement sampling and a decision;
- otherwise it stops, saying why (converged, the cap reached, or no ensemble to judge by).

The decision is a stored document (stage ``generation``) like every other stage's. Jobs that a Response adds may
not refer to jobs outside it (jobflow checks), so the decision takes the boxes and every SAPT document so far as
inputs and hands them to the new jobs as values. Each new job looks for its own input hash in the store first, so
a rerun of a killed flow recomputes nothing finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Flow, Maker, Response, job
from pydantic import BaseModel, Field

from phyneo_flows.errors import InputError
from phyneo_flows.schemas import StageDocument, as_dict, input_hash


class GenerationDocument(StageDocument):
    """What the decision after generation ``generation`` found."""

    stage: str = "generation"
    another_generation: bool = Field(description="True when the flow grew by generation + 1")
    reason: str
    max_generations: int
    n_new_dimers: int = 0
    new_pair_types: list[str] = []
    disagreement: dict = Field({}, description="the sampling's summary: threshold, largest and mean spread (kJ/mol)")


@dataclass
class NextGenerationMaker(Maker):
    """Decide after generation g whether to add generation g + 1 (see the module doc).

    ``sapt_maker``, ``fit_maker`` (the pipeline's fit slot, with ``residual`` settings), ``md_maker``,
    ``properties_maker`` and ``sampling_maker`` (a ``DisagreementSamplingMaker``) build the next generation's
    jobs; ``max_generations`` caps the force-field generation (the first fit makes generation 1)."""

    name: str = "next generation"
    sapt_maker: Any = None
    fit_maker: Any = None
    md_maker: Any = None
    properties_maker: Any = None
    sampling_maker: Any = None
    max_generations: int = 3

    def __post_init__(self) -> None:
        if self.max_generations < 1:
            raise InputError(f"max_generations = {self.max_generations}", field="active.max_generations",
                             fix="give the highest force-field generation to build (>= 1; 1 adds none)")

    @job
    def make(self, sampling: dict | BaseModel, generation: int, formulation: dict, box: Any, md_box: Any,
             sapt: list, sapt_keys: list[str], monomers: Any = None) -> Response | GenerationDocument:
        """``sampling``: the ``DisagreementSamplingDocument`` cut from generation ``generation``'s MD; ``box`` and
        ``md_box`` the sampling and MD boxes; ``sapt`` every SAPT stage document so far, ``sapt_keys`` their input
        hashes; ``monomers`` the monomer-properties document the first fit used, if any. (Jobs a Response adds
        may not refer to jobs outside it, so the next generation gets these as values.)"""
        sampling = as_dict(sampling)
        summary = dict(sampling.get("disagreement") or {})
        dimers = sampling.get("dimers") or []
        common = dict(formulation=formulation["name"], generation=generation, max_generations=self.max_generations,
                      disagreement=summary, input_hash=input_hash("generation", sampling.get("input_hash", "")))
        if generation >= self.max_generations:
            return GenerationDocument(another_generation=False, reason=f"generation {generation} is the cap "
                                      f"(max_generations = {self.max_generations})", **common)
        if not summary.get("another_generation") or not dimers:
            return GenerationDocument(another_generation=False, reason="converged: " + summary.get(
                "message", "no dimer above the threshold"), **common)
        pair_types = sorted({d["pair_type"] for d in dimers})
        flow = self.next_generation(generation + 1, formulation, sampling, as_dict(box), as_dict(md_box),
                                    [as_dict(s) for s in sapt], sapt_keys, pair_types,
                                    as_dict(monomers) if monomers is not None else None)
        doc = GenerationDocument(another_generation=True, reason=summary.get("message", ""),
                                 n_new_dimers=len(dimers), new_pair_types=pair_types, **common)
        return Response(output=doc, addition=flow)

    def next_generation(self, gen: int, formulation: dict, sampling: dict, box: dict, md_box: dict, sapt: list,
                        sapt_keys: list[str], pair_types: list[str], monomers: dict | None = None) -> Flow:
        """The jobs of generation ``gen``: SAPT of the new dimers, fit, MD, properties, sampling, decision."""
        name = formulation["name"]
        jobs: list = []

        def stage(j, stage_name: str, label: str, generation: int = gen):
            j.name = f"{name} {label} (generation {generation})"
            j.metadata.update({"formulation": name, "stage": stage_name, "generation": generation})
            jobs.append(j)
            return j

        new_sapt = [stage(self.sapt_maker.make(sampling, pt), "sapt", f"sapt {pt}") for pt in pair_types]
        keys = sapt_keys + [self.sapt_maker.key(sampling.get("input_hash", ""), pt) for pt in pair_types]
        every_sapt = sapt + [j.output for j in new_sapt]
        extra = {"monomers": monomers} if monomers is not None else {}
        fit = stage(self.fit_maker.make(box=box, sapt=every_sapt, formulation=formulation, generation=gen, **extra),
                    "fit", "fit")
        ff_key = self.fit_maker.key(keys, monomers.get("input_hash")) if monomers else self.fit_maker.key(keys)
        md = stage(self.md_maker.make(md_box, params=fit.output.params, ff_key=ff_key,
                                      generation=gen, ensemble_dirs=fit.output.ensemble_dirs), "md", "md npt")
        stage(self.properties_maker.make(md.output), "properties", "properties")
        samp = stage(self.sampling_maker.make(box, generation=gen, frame=md.output,
                                              ensemble_dir=fit.output.ensemble_dirs), "sampling", "sampling",
                     gen + 1)
        stage(self.make(samp.output, gen, formulation, box, md_box, every_sapt, keys, monomers), "generation",
              "next generation")
        return Flow(jobs, name=f"{name} generation {gen}")

