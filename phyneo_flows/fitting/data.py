"""SAPT-labelled dimers as the fits read them, and splits that keep whole scans together.

A dimer file is JSON Lines, one dimer a line (``fixtures/fitting/make_sapt.py`` writes them)::

    {"pair_type": "Li+-EC", "scan": 3, "point": 7, "closest_contact_a": 3.6,
     "monomer_a": {"symbols": [...], "coordinates_nm": [[x, y, z], ...], "charge": 1, "name": "Li+"},
     "monomer_b": {...},
     "components_kj_mol": {"electrostatics": ..., "exchange": ..., "induction": ..., "delta_hf": ...,
                           "dispersion": ..., "total": ...},
     "method": "sapt0", "basis": "jun-cc-pvdz", ...}

``induction`` is psi4's, delta-HF included; ``delta_hf`` is also given alone. A line with ``failure`` and no
components is a QM job that failed: it is kept in the file and skipped here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phyneo_flows.errors import InputError

COMPONENTS = ("electrostatics", "exchange", "induction", "delta_hf", "dispersion", "total")


@dataclass(frozen=True)
class DimerRecord:
    """One SAPT-labelled dimer (nm, e, kJ/mol). ``scan`` identifies the COM scan the point belongs to."""

    pair_type: str
    scan: int
    point: int
    species_a: str
    species_b: str
    symbols_a: tuple[str, ...]
    symbols_b: tuple[str, ...]
    positions_a_nm: np.ndarray
    positions_b_nm: np.ndarray
    charge_a: int
    charge_b: int
    components_kj_mol: dict[str, float]
    closest_contact_a: float
    method: str = "sapt0"
    basis: str = "jun-cc-pvdz"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def total(self) -> float:
        return self.components_kj_mol["total"]

    @property
    def is_ion_pair(self) -> bool:
        """True when either monomer is charged (the residual networks' pair set by default)."""
        return self.charge_a != 0 or self.charge_b != 0

    @property
    def same_sign_ions(self) -> bool:
        return self.charge_a * self.charge_b > 0

    @property
    def positions_nm(self) -> np.ndarray:
        return np.concatenate([self.positions_a_nm, self.positions_b_nm])

    @property
    def targeted(self) -> bool:
        """A geometry chosen to fill a gap: hand-placed (``source.targeted``) or picked where a residual
        ensemble disagreed (``source.ensemble_generation``, a later sampling generation). Always training
        data, see ``split_by_scan``, so the held-out scans of the first generation stay the test set."""
        source = self.extra.get("source") or {}
        return bool(source.get("targeted", False)) or "ensemble_generation" in source

    @property
    def scan_id(self) -> tuple[str, int]:
        return (self.pair_type, self.scan)


def _record(obj: dict, where: str) -> DimerRecord:
    try:
        a, b = obj["monomer_a"], obj["monomer_b"]
        comps = {k: float(obj["components_kj_mol"][k]) for k in COMPONENTS}
        return DimerRecord(
            pair_type=obj["pair_type"], scan=int(obj.get("scan", 0)), point=int(obj.get("point", 0)),
            species_a=a.get("name", "A"), species_b=b.get("name", "B"),
            symbols_a=tuple(a["symbols"]), symbols_b=tuple(b["symbols"]),
            positions_a_nm=np.asarray(a["coordinates_nm"], dtype=float),
            positions_b_nm=np.asarray(b["coordinates_nm"], dtype=float),
            charge_a=int(a.get("charge", 0)), charge_b=int(b.get("charge", 0)),
            components_kj_mol=comps, closest_contact_a=float(obj.get("closest_contact_a", np.nan)),
            method=obj.get("method", "sapt0"), basis=obj.get("basis", ""),
            extra={k: obj[k] for k in ("source", "engine", "wall_time_s", "psivars_hartree") if k in obj})
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: not a SAPT-labelled dimer ({exc!r})", field="dimers",
                         fix="each line needs pair_type, monomer_a/b (symbols, coordinates_nm, charge, name) "
                             "and components_kj_mol with " + ", ".join(COMPONENTS)) from exc


def load_dimers(paths: str | Path | Iterable[str | Path], pair_types: Sequence[str] | None = None) -> list[DimerRecord]:
    """Every successful dimer in the JSONL files (a directory means all its ``*.jsonl``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.jsonl"))
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"no dimer file at {p}", field="dimers", fix="give a .jsonl file or a folder of them")
    out = []
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if "components_kj_mol" not in obj:
                continue
            rec = _record(obj, f"{f}:{n}")
            if pair_types is None or rec.pair_type in pair_types:
                out.append(rec)
    return out


def split_by_scan(records: Sequence[DimerRecord], test_scans: int = 2, val_scans: int = 1,
                  seed: int = 0, held_out: Sequence[DimerRecord] = ()) -> dict[str, list[DimerRecord]]:
    """train / val / test with whole scans held out: per pair type, ``test_scans`` scans (the highest scan
    numbers) go to test and ``val_scans`` randomly chosen ones of the rest to validation.

    Targeted scans (``source.targeted``, e.g. ``fixtures/fitting/make_sapt_targeted.py``: geometries chosen
    by hand where the sampled scans leave a gap) are always training data and do not take part in the
    choice, so adding them leaves the split of the sampled scans as it was.

    Each pair type draws its validation scans from its own generator (seeded with ``seed``), so a pair's split
    depends on its own scans only: adding data of one pair type moves no other pair's scans, and a pair's split
    in a joint fit is the split of that pair's file alone. (Until session 13 one generator ran across all pair
    types, so new DMC-DMC scans reshuffled EC-EC's validation scan; docs/fitting.md.)

    ``held_out``: dimers kept apart from ``records`` (e.g. ``sapt0_jun-cc-pvdz/heldout/``, scans computed to be
    test data). A pair type that has any is tested on exactly those, and every scan of it in ``records`` goes to
    training or validation, so a pair type whose QM is dear (PF6--PF6-: 100-500 s a point here) gives no
    more scans to test than it must. Their scan numbers must not recur in ``records``: a scan is never split."""
    split: dict[str, list[DimerRecord]] = {"train": [], "val": [], "test": list(held_out)}
    external = {r.pair_type for r in held_out}
    shared = {(r.pair_type, r.scan) for r in held_out} & {(r.pair_type, r.scan) for r in records}
    if shared:
        raise InputError(f"held-out scans {sorted(shared)} are also among the fitted dimers", field="held_out",
                         fix="keep each scan in one place: the held-out folder or the fitted files")
    for r in records:
        if r.targeted:
            split["train"].append(r)
    records = [r for r in records if not r.targeted]
    for pt in sorted({r.pair_type for r in records}):
        scans = sorted({r.scan for r in records if r.pair_type == pt})
        n_test = 0 if pt in external else test_scans
        test = set(scans[len(scans) - n_test:]) if n_test and len(scans) > n_test else set()
        rest = [s for s in scans if s not in test]
        n_val = min(val_scans, max(len(rest) - 1, 0))
        rng = np.random.default_rng(seed)
        val = set(rng.choice(rest, size=n_val, replace=False).tolist()) if rest else set()
        for r in records:
            if r.pair_type != pt:
                continue
            split["test" if r.scan in test else "val" if r.scan in val else "train"].append(r)
    return split


def scoring_mask(records: Sequence[DimerRecord], max_energy_kj_mol: float = 25.0,
                 same_sign_min_contact_a: float = 2.0) -> np.ndarray:
    """The points an RMSE is taken over: SAPT total below ``max_energy_kj_mol``; same-sign ion pairs (always
    repulsive) instead at closest contacts of ``same_sign_min_contact_a`` or more."""
    return np.array([(r.closest_contact_a >= same_sign_min_contact_a) if r.same_sign_ions
                     else (r.total < max_energy_kj_mol) for r in records], dtype=bool)
