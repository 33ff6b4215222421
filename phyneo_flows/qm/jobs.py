"""Jobflow Makers over the psi4 SAPT harness (thin: the science is in ``phyneo_flows.qm.psi4``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Maker, job
from maggma.core import Store

from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.harness import QMFailure, compute_many
from phyneo_flows.qm.models import Dimer, OptionValue
from phyneo_flows.qm.psi4 import Psi4Harness, SaptInput, SaptResult


def _dimer(value: Dimer | dict) -> Dimer:
    return value if isinstance(value, Dimer) else Dimer.model_validate(value)


@dataclass
class SaptMaker(Maker):
    """SAPT of one dimer with psi4. With ``cache_store`` (any maggma Store, e.g. the JobStore's docs store)
    a calculation already stored is read, not rerun. The job's output is a ``SaptResult`` (kJ/mol) or a
    ``QMFailure``; a failure does not stop the flow."""

    name: str = "sapt"
    method: str = "sapt0"
    basis: str = "jun-cc-pvdz"
    options: dict[str, OptionValue] = field(default_factory=dict)
    threads: int | None = None
    memory_mb: int = 2000
    cache_store: Store | None = None

    def harness(self) -> Psi4Harness:
        return Psi4Harness(threads=self.threads, memory_mb=self.memory_mb)

    def sapt_input(self, dimer: Dimer | dict, grac_shifts: tuple[float, float] | None = None) -> SaptInput:
        shifts = grac_shifts or (None, None)
        return SaptInput(dimer=_dimer(dimer), method=self.method, basis=self.basis, options=dict(self.options),
                         grac_shift_a=shifts[0], grac_shift_b=shifts[1])

    @job
    def make(self, dimer: Dimer | dict, grac_shifts: tuple[float, float] | None = None
             ) -> SaptResult | QMFailure:
        """SAPT components of ``dimer``; ``grac_shifts`` (kJ/mol) only for SAPT(DFT)."""
        sapt_input = self.sapt_input(dimer, grac_shifts)
        harness = self.harness()
        if self.cache_store is not None:
            return QMCache(self.cache_store).compute_cached(harness, sapt_input)
        return harness.compute(sapt_input)


@dataclass
class SaptBatchMaker(SaptMaker):
    """SAPT of many dimers in one job: ``{"results": [...], "failures": [...]}``; failures are recorded,
    the rest are returned."""

    name: str = "sapt batch"

    @job
    def make(self, dimers: list[Dimer | dict]) -> dict[str, Any]:  # type: ignore[override]
        cache = QMCache(self.cache_store) if self.cache_store is not None else None
        results, failures = compute_many(self.harness(), [self.sapt_input(d) for d in dimers], cache=cache)
        return {"results": results, "failures": failures}
