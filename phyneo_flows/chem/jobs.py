"""Jobflow Makers over the chemistry stage."""

from __future__ import annotations

import time
from dataclasses import dataclass

from jobflow import Maker, job

from phyneo_flows.chem.molecule import DEFAULT_SEED
from phyneo_flows.chem.packing import PackedBox, build_box
from phyneo_flows.formulation import formulation_from_dict
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.schemas import BoxDocument, SpeciesRecord, input_hash


def box_document(box: PackedBox, generation: int = 0, key: str = "") -> BoxDocument:
    """The stored record of a packed box."""
    counts = {c.species: c for c in box.composition.counts}
    species = [SpeciesRecord(name=name, smiles=t.smiles, charge=t.formal_charge, count=counts[name].count,
                             n_atoms=t.n_atoms, atom_types=t.atom_types) for name, t in box.templates.items()]
    return BoxDocument(
        formulation=box.formulation, generation=generation, input_hash=key, composition=box.composition,
        species=species, n_atoms=box.n_atoms, box_length_nm=box.box_nm, density_g_cm3=box.density_g_cm3,
        min_intermolecular_distance_nm=box.min_intermolecular_distance_nm(), seed=box.seed,
        packmol_version=box.packmol_version, pdb=box.pdb_text(), positions_nm=box.positions_nm.tolist())


@dataclass
class BoxMaker(Maker):
    """Pack a box for a formulation (size from the formulation unless ``n_atoms`` is set)."""

    name: str = "box"
    n_atoms: int | None = None
    seed: int = DEFAULT_SEED

    def key(self, formulation: dict) -> str:
        return input_hash("box", formulation, self.n_atoms, self.seed)

    @job(data=["pdb", "positions_nm"], config=REUSE_CONFIG)
    def make(self, formulation: dict) -> BoxDocument:
        key = self.key(formulation)
        if (done := previous("box", key)) is not None:
            return BoxDocument.model_validate(done)
        start = time.perf_counter()
        f = formulation_from_dict(formulation)
        box = build_box(f, n_atoms=self.n_atoms, seed=self.seed)
        doc = box_document(box, key=key)
        doc.wall_time_s, doc.cores = time.perf_counter() - start, 1
        return doc
