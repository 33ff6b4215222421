"""Jobflow Makers over the sampling stage: dimer poses and COM scans from a box, ready for SAPT."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, Field
from scipy.spatial.transform import Rotation

from phyneo_flows.errors import InputError
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.sampling.active import (
    DEFAULT_MIN_DISTANCE,
    DEFAULT_THRESHOLD_KJ_MOL,
    check_selection,
    ensemble_dirs,
    load_ensembles,
    select_by_disagreement,
)
from phyneo_flows.sampling.dimers import (
    DEFAULT_SCAN_CONTACTS_A,
    Dimer,
    com_scan,
    cut_dimers,
    pair_type,
    select_diverse,
)
from phyneo_flows.schemas import BoxDocument, SamplingDocument, input_hash


def box_topology(box: dict) -> tuple[np.ndarray, list[str], list[str], dict[str, int]]:
    """(molecule_index, molecule_species, symbols, charges) of a stored box document."""
    index, species, symbols, charges = [], [], [], {}
    k = 0
    for s in box["species"]:
        charges[s["name"]] = s["charge"]
        elements = [t[len(s["name"]) + 1:].rstrip("0123456789") for t in s["atom_types"]]
        for _ in range(s["count"]):
            index += [k] * s["n_atoms"]
            species.append(s["name"])
            symbols += elements
            k += 1
    return np.array(index), species, symbols, charges


def _synthetic_pose(box: dict, a: str, b: str, seed: int) -> Dimer:
    """A pose for a pair type that is nobody's nearest neighbour in the frame (e.g. two cations):
    B in a random orientation beside A, 3 Å closest contact."""
    index, species, symbols, charges = box_topology(box)
    pos = np.asarray(box["positions_nm"])
    ia, ib = species.index(a), len(species) - 1 - species[::-1].index(b)
    pa, pb = pos[index == ia], pos[index == ib]
    rng = np.random.default_rng(seed)
    pb = Rotation.random(random_state=rng).apply(pb - pb.mean(0)) + pa.mean(0) + rng.normal(size=3)
    sym_a, sym_b = [symbols[i] for i in np.flatnonzero(index == ia)], [symbols[i] for i in np.flatnonzero(index == ib)]
    d = Dimer(a, b, sym_a, sym_b, pa, pb, charges[a], charges[b],
              source={"synthetic": True, "molecules": [int(ia), int(ib)]})
    return com_scan(d, [3.0])[0]


def qm_dimer(d: Dimer) -> dict:
    """The dimer as ``phyneo_flows.qm.models.Dimer`` data (nm, e)."""
    def mono(symbols, pos, charge, name):
        return {"symbols": list(symbols), "coordinates_nm": np.asarray(pos).tolist(), "charge": int(charge),
                "multiplicity": 1, "name": name}

    return {"monomer_a": mono(d.symbols_a, d.positions_a_nm, d.charge_a, d.species_a),
            "monomer_b": mono(d.symbols_b, d.positions_b_nm, d.charge_b, d.species_b)}


@dataclass
class DimerSamplingMaker(Maker):
    """Per pair type: ``poses_per_pair`` diverse nearest-neighbour poses from the box, each scanned along
    its COM line at ``scan_contacts_a`` closest contacts. Pair types come from the formulation's
    species, so every pair gets poses even when the frame has none (then a random pose is built)."""

    name: str = "sample dimers"
    poses_per_pair: int = 2
    cutoff_nm: float = 0.35
    scan_contacts_a: tuple[float, ...] = DEFAULT_SCAN_CONTACTS_A
    seed: int = 0
    pair_types: list[str] | None = field(default=None)

    def key(self, box_key: str) -> str:
        return input_hash("sampling", box_key, self.poses_per_pair, self.cutoff_nm, list(self.scan_contacts_a),
                          self.seed, self.pair_types)

    @job(data=["dimers"], config=REUSE_CONFIG)
    def make(self, box: dict | BoxDocument) -> SamplingDocument:
        if isinstance(box, BoxDocument):
            box = box.model_dump()
        key = self.key(box.get("input_hash", ""))
        if (done := previous("sampling", key)) is not None:
            return SamplingDocument.model_validate(done)
        start = time.perf_counter()
        index, species, symbols, charges = box_topology(box)
        frame = cut_dimers(np.asarray(box["positions_nm"]), box["box_length_nm"], index, species, symbols,
                           charges, cutoff_nm=self.cutoff_nm)
        names = [s["name"] for s in box["species"]]
        wanted = self.pair_types or [pair_type(a, b) for a, b in itertools.combinations_with_replacement(names, 2)]
        dimers, counts = [], {}
        for k, pt in enumerate(wanted):
            a, b = _split_pair(pt, names)
            poses = select_diverse([d for d in frame if d.pair_type == pt], self.poses_per_pair, seed=self.seed)
            if not poses:
                poses = [_synthetic_pose(box, a, b, self.seed + k)]
            scans = [s for p in poses for s in com_scan(p, self.scan_contacts_a)]
            counts[pt] = len(scans)
            dimers += [{"pair_type": pt, "source": s.source, "closest_contact_a": 10 * s.closest_contact_nm,
                        "dimer": qm_dimer(s)} for s in scans]
        return SamplingDocument(formulation=box["formulation"], generation=box.get("generation", 0), input_hash=key,
                                counts=counts, dimers=dimers, wall_time_s=time.perf_counter() - start, cores=1)


def _split_pair(pt: str, names: list[str]) -> tuple[str, str]:
    """Split ``A-B`` when species names themselves contain '-' (``Li+-PF6-``)."""
    for a in names:
        if pt.startswith(a + "-") and pt[len(a) + 1:] in names:
            return a, pt[len(a) + 1:]
    raise ValueError(f"pair type {pt!r} does not name two species of {names}")


class DisagreementSamplingDocument(SamplingDocument):
    """A later generation's sampling: the dimers where the residual ensemble disagreed most, scanned."""

    disagreement: dict = Field(description="threshold_kj_mol, another_generation, max/mean std (kJ/mol) of the "
                                           "candidates, per pair type counts, message (sampling.active)")


@dataclass
class DisagreementSamplingMaker(Maker):
    """Sampling for generation g + 1 from a frame of generation g's MD: nearest-neighbour dimers of the frame
    (closest contact within ``cutoff_nm``) of the pair types the residual ensemble(s) cover, per pair type the
    ``n_per_pair`` of largest member disagreement above ``threshold_kj_mol`` (kept diverse,
    ``sampling.active.select_by_disagreement``), each scanned along its COM line at ``scan_contacts_a``.

    ``make(box, generation, frame=None, ensemble_dir=None)``: ``box`` the BoxDocument (topology, and the
    positions when no ``frame`` is given); ``frame`` an MDStageDocument (``final_positions_nm``,
    ``final_box_nm``) of the same box; ``generation`` the force-field generation that ran it; ``ensemble_dir``
    (one folder or several) overrides the field, so that a fit job's output can be passed. The document has
    ``generation + 1``, each dimer's ``source`` its pose's ``disagreement_kj_mol``, and ``disagreement`` the
    decision; when no candidate exceeds the threshold it holds no dimers and says so."""

    name: str = "sample dimers by disagreement"
    ensemble_dir: str | list[str] | None = None
    n_per_pair: int = 2
    threshold_kj_mol: float = DEFAULT_THRESHOLD_KJ_MOL
    min_distance: float = DEFAULT_MIN_DISTANCE
    cutoff_nm: float = 0.5
    scan_contacts_a: tuple[float, ...] = DEFAULT_SCAN_CONTACTS_A

    def __post_init__(self) -> None:
        check_selection(self.n_per_pair, self.threshold_kj_mol, self.min_distance)
        if self.cutoff_nm <= 0:
            raise InputError(f"cutoff_nm = {self.cutoff_nm}", field="cutoff_nm", fix="give a contact distance > 0")
        if self.ensemble_dir is not None:
            ensemble_dirs(self.ensemble_dir)

    def key(self, box_key: str, frame_key: str, generation: int, ensemble_hash: str) -> str:
        return input_hash("sampling", "disagreement", box_key, frame_key, generation, ensemble_hash,
                          self.n_per_pair, self.threshold_kj_mol, self.min_distance, self.cutoff_nm,
                          list(self.scan_contacts_a))

    @job(data=["dimers"], config=REUSE_CONFIG)
    def make(self, box: dict | BoxDocument, generation: int, frame: dict | BaseModel | None = None,
             ensemble_dir: str | list[str] | None = None) -> DisagreementSamplingDocument:
        if isinstance(box, BaseModel):
            box = box.model_dump()
        if isinstance(frame, BaseModel):
            frame = frame.model_dump()
        if generation < 0:
            raise InputError(f"generation = {generation}", field="generation",
                             fix="give the generation (>= 0) of the force field whose MD made the frame")
        dirs = ensemble_dirs(ensemble_dir if ensemble_dir is not None else self.ensemble_dir)
        key = self.key(box.get("input_hash", ""), (frame or {}).get("input_hash", ""), generation,
                       _ensemble_hash(dirs))
        if (done := previous("sampling", key)) is not None:
            return DisagreementSamplingDocument.model_validate(done)
        start = time.perf_counter()
        index, species, symbols, charges = box_topology(box)
        if frame is None:
            positions, length = np.asarray(box["positions_nm"], float), float(box["box_length_nm"])
        else:  # MD keeps molecules whole (unwrapped), as cut_dimers needs; the NPT box is cubic
            positions, length = np.asarray(frame["final_positions_nm"], float), float(frame["final_box_nm"][0][0])
        if positions.shape != (len(symbols), 3):
            raise InputError(f"the frame has {positions.shape[0]} atoms, the box {len(symbols)}", field="frame",
                             fix="give the MD run of this box")
        candidates = cut_dimers(positions, length, index, species, symbols, charges, cutoff_nm=self.cutoff_nm)
        picked = select_by_disagreement(candidates, load_ensembles(dirs), self.n_per_pair,
                                        threshold_kj_mol=self.threshold_kj_mol, min_distance=self.min_distance)
        dimers, counts = [], {}
        for pose in picked.chosen:
            scans = com_scan(dataclasses.replace(pose, source=pose.source | {"ensemble_generation": generation}),
                             self.scan_contacts_a)
            counts[pose.pair_type] = counts.get(pose.pair_type, 0) + len(scans)
            dimers += [{"pair_type": pose.pair_type, "source": s.source,
                        "closest_contact_a": 10 * s.closest_contact_nm, "dimer": qm_dimer(s)} for s in scans]
        return DisagreementSamplingDocument(
            formulation=box["formulation"], generation=generation + 1, input_hash=key, counts=counts,
            dimers=dimers, disagreement=picked.summary(), wall_time_s=time.perf_counter() - start, cores=1)


def _ensemble_hash(dirs: list[Path]) -> str:
    """Hash of the saved weights and settings, so a retrained ensemble is a new input."""
    from phyneo_flows.fitting.residual import ENSEMBLE, ENSEMBLE_META

    return input_hash(*[hashlib.sha256((d / name).read_bytes()).hexdigest() for d in dirs
                        for name in (ENSEMBLE, ENSEMBLE_META)])
