"""jobflow Maker over the physics fit (a thin wrapper; the fitting core imports nothing from jobflow)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

from jobflow import Maker, job

from phyneo_flows.errors import InputError
from phyneo_flows.ff.params import ForceFieldParams, load_params
from phyneo_flows.fitting.schemas import FitDocument
from phyneo_flows.schemas import input_hash


def known_molecules(known: ForceFieldParams | None, species: list[str]) -> list[str]:
    """The species whose fitted parameters ``known`` already holds (they are reused, never refitted)."""
    if known is None:
        return []
    return [s for s in species if s in known.molecules]


@dataclass
class PhysicsFitMaker(Maker):
    """Fit the Slater A/B of the formulation's new molecules to SAPT dimers; reuse known ones.

    ``known_params``: a phyneo-ff file of molecules fitted before (frozen). ``property_files``: {species:
    monomer-properties JSON} for the molecules still to fit (monatomic ions come from ``FREE_IONS``).
    A formulation whose species are all known starts no QM and no fit: the stored document holds the
    known parameters with ``reused_molecules`` naming them.
    """

    name: str = "physics fit"
    known_params: str | None = None
    property_files: dict[str, str] = field(default_factory=dict)
    fit_settings: dict = field(default_factory=dict)

    @job(data=["parity_png"], output_schema=FitDocument)
    def make(self, formulation: str, species: list[str], dimers: str | None = None) -> FitDocument:
        from phyneo_flows.fitting.data import load_dimers
        from phyneo_flows.fitting.shortrange import FitSettings

        start = time.perf_counter()
        settings = FitSettings(**self.fit_settings)
        known = load_params(self.known_params) if self.known_params else None
        reused = known_molecules(known, species)
        key = input_hash("physics-fit", species, self.known_params, self.property_files, dimers,
                         settings.model_dump())
        if len(reused) == len(species):
            subset = known.model_copy(update={"molecules": {s: known.molecules[s] for s in species}})
            return FitDocument(formulation=formulation, input_hash=key, params=subset.model_dump(mode="json"),
                               reused_molecules=reused, frozen_molecules=reused, settings=settings.model_dump(),
                               wall_time_s=time.perf_counter() - start)
        if dimers is None:
            raise InputError(f"{sorted(set(species) - set(reused))} need a fit but no dimers were given",
                             field="dimers", fix="give a JSONL file (or folder) of SAPT-labelled dimers")
        params = self._start_params(species, known)
        records = [r for r in load_dimers(dimers) if r.species_a in params.molecules
                   and r.species_b in params.molecules]
        from phyneo_flows.fitting.shortrange import run_physics_fit

        fit = run_physics_fit(params, records, frozen=reused, settings=settings)
        res = fit.result
        return FitDocument(
            formulation=formulation, input_hash=key, n_dimers=len(records), pairs=fit.summary["pairs"],
            metrics=fit.metrics, long_range_check=fit.long_range_check, split=res.split_ids(),
            fitted_molecules=res.fitted_molecules, frozen_molecules=res.frozen_molecules, reused_molecules=reused,
            settings=settings.model_dump(), params=res.params.model_dump(mode="json"),
            parity_png={k: base64.b64encode(v).decode() for k, v in fit.parity_png.items()},
            wall_time_s=time.perf_counter() - start, cores=1)

    def _start_params(self, species: list[str], known: ForceFieldParams | None) -> ForceFieldParams:
        from phyneo_flows.chem import build_molecule
        from phyneo_flows.fitting.monomer_params import params_from_fixtures

        todo = [s for s in species if known is None or s not in known.molecules]
        ions = tuple(s for s in todo if s not in self.property_files and len(build_molecule(s).symbols) == 1)
        missing = [s for s in todo if s not in self.property_files and s not in ions]
        if missing:
            raise InputError(f"no monomer properties for {missing}", field="property_files",
                             fix="compute them (phyneo qm properties) and name the JSON files")
        new = params_from_fixtures({s: self.property_files[s] for s in todo if s in self.property_files}, ions=ions)
        molecules = dict(known.molecules) if known is not None else {}
        molecules.update(new.molecules)
        return new.model_copy(update={"molecules": molecules})
