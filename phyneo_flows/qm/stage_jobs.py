"""The reference-QM stage of the pipeline: SAPT of one pair type's sampled dimers, as one job.

Thin: the science is in ``phyneo_flows.qm.psi4``; results already in the QM cache are read, not rerun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jobflow import job
from pydantic import BaseModel

from phyneo_flows.qm.cache import QMCache, cache_store_of
from phyneo_flows.qm.harness import compute_many
from phyneo_flows.qm.jobs import SaptMaker
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.schemas import StageDocument, input_hash


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
