"""The reference-QM stage of the pipeline: SAPT of one pair type's sampled dimers, as one job.

Thin: the science is in ``phyneo_flows.qm.psi4``; results already in the QM cache are read, not rerun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jobflow import Maker, job
from pydantic import BaseModel

from phyneo_flows.qm.cache import QMCache, cache_store_of
from phyneo_flows.qm.harness import compute_many
from phyneo_flows.qm.jobs import SaptMaker
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.schemas import StageDocument, available_cores, input_hash


class SaptPairDocument(StageDocument):
    """SAPT components (kJ/mol) of every sampled dimer of one pair type; failures are recorded, not lost.
    Each row of ``results`` also carries the sampled ``source``, ``closest_contact_a`` and ``dimer`` (the
    geometry, as the sampling stage stored it) so that a fit can read the SAPT stage alone."""

    stage: str = "sapt"
    pair_type: str
    method: str
    basis: str
    results: list[dict[str, Any]]
    failures: list[dict[str, Any]]


@dataclass
class SaptStageMaker(SaptMaker):
    """SAPT of the sampled dimers of ``pair_type`` (at most ``max_dimers``; all when None), read from the
    JobStore's QM cache where already computed."""

    name: str = "sapt"
    max_dimers: int | None = None

    def key(self, sampling_key: str, pair_type: str) -> str:
        return input_hash("sapt", sampling_key, pair_type, self.method, self.basis, self.options, self.max_dimers)

    @job(data=["results"], config=REUSE_CONFIG)
    def make(self, sampling: Any, pair_type: str) -> SaptPairDocument:  # type: ignore[override]
        from jobflow import CURRENT_JOB

        start = time.perf_counter()
        if isinstance(sampling, BaseModel):
            sampling = sampling.model_dump()
        key = self.key(sampling.get("input_hash", ""), pair_type)
        if (done := previous("sapt", key)) is not None:
            return SaptPairDocument.model_validate(done)
        items = [d for d in sampling["dimers"] if d["pair_type"] == pair_type][: self.max_dimers]
        inputs = [self.sapt_input(d["dimer"]) for d in items]
        store = getattr(CURRENT_JOB, "store", None)
        cache = QMCache(cache_store_of(store)) if store is not None else None
        harness = self.harness()
        results, failures = compute_many(harness, inputs, cache=cache)
        by_hash = {i.input_hash("psi4", harness.version()): d for i, d in zip(inputs, items, strict=True)}
        rows = []
        for r in results:
            item = by_hash.get(r.input_hash, {})
            rows.append(r.model_dump(mode="json") | {"source": item.get("source"),
                                                     "closest_contact_a": item.get("closest_contact_a"),
                                                     "dimer": item.get("dimer")})
        return SaptPairDocument(
            formulation=sampling["formulation"], generation=sampling.get("generation", 0), input_hash=key,
            pair_type=pair_type,
            method=self.method, basis=self.basis, results=rows, failures=[f.model_dump(mode="json") for f in failures],
            wall_time_s=time.perf_counter() - start, cores=harness.threads)


class MonomersDocument(StageDocument):
    """Monomer properties (MBIS multipoles, polarisabilities, C6/C8/C10) of every molecular species of a
    formulation that needs them, each as ``{"species", "symbols", "positions_nm", "properties"}``: the format
    of ``fixtures/qm/pyscf/properties_*.json``, which the fit reads the same way. Monatomic ions take their
    values from ``qm.properties.FREE_IONS`` and are listed in ``free_ions``; failures are recorded, not lost."""

    stage: str = "monomers"
    method: str
    basis: str
    monomers: dict[str, dict[str, Any]]
    free_ions: list[str] = []
    failures: list[dict[str, Any]] = []


@dataclass
class MonomersStageMaker(Maker):
    """Monomer properties of the formulation's molecules, from the QM cache where already computed.

    ``skip``: species whose parameters come from elsewhere (a known parameter file, a properties file); they
    are not computed."""

    name: str = "monomer properties"
    method: str = "hf"
    basis: str = "aug-cc-pvdz"
    skip: tuple[str, ...] = ()

    def _plan(self, species: list[str]) -> tuple[dict[str, Any], list[str]]:
        """({molecule: template} to compute, monatomic ions) among ``species``, leaving out ``skip``."""
        from phyneo_flows.chem import build_molecule

        templates = {s: build_molecule(s) for s in species if s not in self.skip}
        ions = [s for s, t in templates.items() if len(t.symbols) == 1]
        return {s: t for s, t in templates.items() if s not in ions}, ions

    def _key(self, templates: dict[str, Any], ions: list[str]) -> str:
        geometry = {s: [list(t.symbols), t.smiles, [[round(float(x), 6) for x in p] for p in t.positions_nm]]
                    for s, t in templates.items()}
        return input_hash("monomers", geometry, ions, self.method.lower(), self.basis.lower())

    def todo(self, species: list[str]) -> tuple[list[str], list[str]]:
        """(molecules to compute, monatomic ions) among ``species``, leaving out ``skip``."""
        templates, ions = self._plan(species)
        return list(templates), ions

    def key(self, species: list[str]) -> str:
        return self._key(*self._plan(species))

    @job(config=REUSE_CONFIG)
    def make(self, formulation: dict) -> MonomersDocument:
        from jobflow import CURRENT_JOB

        from phyneo_flows.formulation import Formulation
        from phyneo_flows.qm.models import QMMolecule
        from phyneo_flows.qm.properties import PropertiesHarness, PropertiesInput

        start = time.perf_counter()
        form = Formulation.model_validate(formulation)
        templates, ions = self._plan([s.name for s in form.species()])
        key = self._key(templates, ions)
        if (done := previous("monomers", key)) is not None:
            return MonomersDocument.model_validate(done)
        inputs = [PropertiesInput(molecule=QMMolecule(symbols=t.symbols, coordinates_nm=t.positions_nm,
                                                      charge=t.formal_charge, name=s),
                                  method=self.method, basis=self.basis, bonds=[tuple(b) for b in t.bonds],
                                  atom_types=list(t.atom_types))
                  for s, t in templates.items()]
        store = getattr(CURRENT_JOB, "store", None)
        cache = QMCache(cache_store_of(store)) if store is not None else None
        harness = PropertiesHarness()
        results, failures = compute_many(harness, inputs, cache=cache)
        by_hash = {i.input_hash(harness.name, harness.version()): s
                   for i, s in zip(inputs, templates, strict=True)}
        monomers = {}
        for r in results:
            s = by_hash[r.input_hash]
            monomers[s] = {"species": s, "symbols": list(templates[s].symbols),
                           "positions_nm": [list(map(float, p)) for p in templates[s].positions_nm],
                           "properties": r.model_dump(mode="json")}
        return MonomersDocument(formulation=form.name, input_hash=key, method=self.method, basis=self.basis,
                                monomers=monomers, free_ions=ions,
                                failures=[f.model_dump(mode="json") for f in failures],
                                wall_time_s=time.perf_counter() - start, cores=available_cores())
