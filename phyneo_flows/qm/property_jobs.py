"""Jobflow Makers for DFT energies/forces and monomer properties (thin: the science is in
``pyscf_engine`` and ``properties``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Maker, job
from maggma.core import Store

from phyneo_flows.qm.cache import QMCache
from phyneo_flows.qm.harness import QMFailure, compute_many
from phyneo_flows.qm.models import OptionValue, QMMolecule
from phyneo_flows.qm.properties import MonomerProperties, PropertiesHarness, PropertiesInput
from phyneo_flows.qm.pyscf_engine import DFTInput, DFTResult, PySCFHarness


def _molecule(value: QMMolecule | dict) -> QMMolecule:
    return value if isinstance(value, QMMolecule) else QMMolecule.model_validate(value)


@dataclass
class DFTMaker(Maker):
    """DFT (or HF) energy and forces of one molecule or cluster with PySCF. The output is a ``DFTResult``
    (kJ/mol, kJ/mol/nm) or a ``QMFailure``; with ``cache_store`` a stored result is reused."""

    name: str = "dft"
    method: str = "wb97x-d3bj"
    basis: str = "def2-svp"
    task: str = "gradient"
    options: dict[str, OptionValue] = field(default_factory=dict)
    cache_store: Store | None = None

    def dft_input(self, molecule: QMMolecule | dict) -> DFTInput:
        return DFTInput(molecule=_molecule(molecule), method=self.method, basis=self.basis, task=self.task,
                        options=dict(self.options))

    @job
    def make(self, molecule: QMMolecule | dict) -> DFTResult | QMFailure:
        """Energy (and forces) of ``molecule``."""
        harness = PySCFHarness()
        if self.cache_store is not None:
            return QMCache(self.cache_store).compute_cached(harness, self.dft_input(molecule))
        return harness.compute(self.dft_input(molecule))


@dataclass
class DFTBatchMaker(DFTMaker):
    """Many molecules/clusters in one job: ``{"results": [...], "failures": [...]}``."""

    name: str = "dft batch"

    @job
    def make(self, molecules: list[QMMolecule | dict]) -> dict[str, Any]:  # type: ignore[override]
        cache = QMCache(self.cache_store) if self.cache_store is not None else None
        results, failures = compute_many(PySCFHarness(), [self.dft_input(m) for m in molecules], cache=cache)
        return {"results": results, "failures": failures}


@dataclass
class PropertiesMaker(Maker):
    """Monomer properties (MBIS multipoles in local frames, polarisabilities, C6/C8/C10) of one molecule;
    HF/aug-cc-pVDZ by default, beside SAPT0. Output: ``MonomerProperties`` or ``QMFailure``."""

    name: str = "monomer properties"
    method: str = "hf"
    basis: str = "aug-cc-pvdz"
    cache_store: Store | None = None

    @job
    def make(self, molecule: QMMolecule | dict, bonds: list[tuple[int, int]] | None = None,
             atom_types: list[str] | None = None) -> MonomerProperties | QMFailure:
        """Properties of ``molecule``; ``bonds``/``atom_types`` from the species library when known."""
        prop_input = PropertiesInput(molecule=_molecule(molecule), method=self.method, basis=self.basis,
                                     bonds=bonds, atom_types=atom_types)
        harness = PropertiesHarness()
        if self.cache_store is not None:
            return QMCache(self.cache_store).compute_cached(harness, prop_input)
        return harness.compute(prop_input)
