"""Active sampling: the next generation's dimers where the residual ensemble disagrees most.

The K members of a :class:`~phyneo_flows.fitting.residual.ResidualEnsemble` were trained on the same SAPT
dimers from different starts; where they have seen data they agree, elsewhere they drift apart. The standard
deviation of their residual energies (kJ/mol) on a dimer is therefore an estimate of the network's error there
that needs no QM. A later generation cuts dimers from an MD frame run with the current force field, keeps those
of largest disagreement (diverse by :func:`~phyneo_flows.sampling.dimers.fingerprint`), and sends their COM
scans to SAPT; once no dimer of the frame exceeds ``threshold_kj_mol`` no further generation is needed.

Plain numpy on :class:`~phyneo_flows.sampling.dimers.Dimer` objects; nothing here imports a workflow engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.sampling.dimers import Dimer, fingerprint

if TYPE_CHECKING:
    from phyneo_flows.fitting.data import DimerRecord
    from phyneo_flows.fitting.residual import ResidualEnsemble

DEFAULT_THRESHOLD_KJ_MOL = 1.0
"""Members' spread (std, kJ/mol) above which a dimer counts as not yet learnt. On the saved Li+-EC and
Li+-PF6- ensembles the mean spread over their own SAPT scans (train, validation, test) is 0.07-0.23 kJ/mol and
the largest 0.92 (at the 1.4 A repulsive wall); Li+ at 1.0 A from PF6- gives 0.6-4.9. 1 kJ/mol is also the
accuracy target of the neutral pairs and a quarter of the ion pairs' (< 4 kJ/mol): a spread above it marks a
dimer whose residual is uncertain at the level that matters."""

DEFAULT_MIN_DISTANCE = 0.05
"""Two dimers whose fingerprints differ by less than this (relative to the mean fingerprint norm of their pair
type) count as one pose: the second is not chosen."""

_MIN_BATCH = 16


def _unlabelled(d: Dimer | DimerRecord) -> DimerRecord:
    """A dimer as the ensemble reads one (names, charges, geometry), with no SAPT energies."""
    from phyneo_flows.fitting.data import DimerRecord

    pa, pb = np.asarray(d.positions_a_nm, float), np.asarray(d.positions_b_nm, float)
    return DimerRecord(pair_type=d.pair_type, scan=0, point=0, species_a=d.species_a, species_b=d.species_b,
                       symbols_a=tuple(d.symbols_a), symbols_b=tuple(d.symbols_b), positions_a_nm=pa,
                       positions_b_nm=pb, charge_a=d.charge_a, charge_b=d.charge_b, components_kj_mol={},
                       closest_contact_a=10.0 * float(np.min(np.linalg.norm(pa[:, None] - pb[None], axis=-1))))


def ensemble_dirs(directories: str | Path | Sequence[str | Path] | None) -> list[Path]:
    """The folders as a list, each checked to hold a saved ensemble (``InputError`` on field ``ensemble_dir``
    otherwise), so a job fails before it cuts a frame rather than after."""
    from phyneo_flows.fitting.residual import ENSEMBLE, ENSEMBLE_META

    listed = [] if directories is None else [directories] if isinstance(directories, (str, Path)) else list(
        directories)
    dirs = [Path(d) for d in listed]
    missing = [str(d) for d in dirs if not ((d / ENSEMBLE_META).exists() and (d / ENSEMBLE).exists())]
    if not dirs or missing:
        raise InputError(f"no residual ensemble in {', '.join(missing) or 'ensemble_dir = None'}",
                         field="ensemble_dir", fix="name the folder(s) ResidualEnsemble.save wrote "
                                                   "(ensemble.json, ensemble.npz)")
    return dirs


def load_ensembles(directories: str | Path | Sequence[str | Path]) -> list[ResidualEnsemble]:
    """The ensembles saved in ``directories`` (one folder or several, e.g. one per pair type)."""
    from phyneo_flows.fitting.residual import load_ensemble

    return [load_ensemble(d) for d in ensemble_dirs(directories)]


def disagreement_kj_mol(candidates: Sequence[Dimer | DimerRecord],
                        ensembles: ResidualEnsemble | Sequence[ResidualEnsemble]) -> np.ndarray:
    """Std over the members of the residual energy (kJ/mol) of each candidate; NaN where no ensemble covers
    its pair type (with several covering, the largest)."""
    from phyneo_flows.fitting.residual import select

    ensembles = _as_list(ensembles)
    records = [_unlabelled(d) for d in candidates]
    out = np.full(len(records), np.nan)
    for ens in ensembles:
        idx = np.flatnonzero(select(records, ens.config)) if records else np.zeros(0, int)
        if idx.size == 0:
            continue
        # the networks compile once per batch shape: pad to a power of two (repeating a dimer) so that
        # generations and frames of similar size reuse one compiled function
        batch = max(_MIN_BATCH, 1 << (int(idx.size) - 1).bit_length())
        padded = [records[i] for i in idx] + [records[idx[0]]] * (batch - idx.size)
        std = ens.residual_members(padded).std(0)[: idx.size]
        out[idx] = np.fmax(out[idx], std)
    return out


def needs_another_generation(std_kj_mol: Sequence[float] | np.ndarray,
                             threshold_kj_mol: float = DEFAULT_THRESHOLD_KJ_MOL) -> bool:
    """True when some covered dimer's disagreement exceeds ``threshold_kj_mol`` (NaN, i.e. not covered, is
    ignored; no covered dimer at all means there is nothing to learn from this frame)."""
    _check_threshold(threshold_kj_mol)
    std = np.asarray(std_kj_mol, float)
    std = std[np.isfinite(std)]
    return bool(std.size and std.max() > threshold_kj_mol)


@dataclass(frozen=True)
class DisagreementSelection:
    """What :func:`select_by_disagreement` chose, and why.

    ``chosen``: copies of the picked dimers, ``source`` extended by ``disagreement_kj_mol``, largest first
    within each pair type. ``per_pair``: for each covered pair type, ``n_candidates``, ``n_above`` (above the
    threshold), ``n_chosen``, ``max_std_kj_mol``, ``mean_std_kj_mol``. ``n_uncovered``: candidates of pair
    types no ensemble covers (not judged)."""

    chosen: list[Dimer]
    std_kj_mol: list[float]
    threshold_kj_mol: float
    another_generation: bool
    n_candidates: int
    n_uncovered: int
    max_std_kj_mol: float
    mean_std_kj_mol: float
    per_pair: dict[str, dict[str, float]]

    @property
    def message(self) -> str:
        if self.n_candidates == 0:
            return "no candidate dimer of a pair type the ensemble covers"
        verdict = "exceeds" if self.another_generation else "does not exceed"
        return (f"largest disagreement {self.max_std_kj_mol:.3f} kJ/mol over {self.n_candidates} candidates "
                f"{verdict} the threshold {self.threshold_kj_mol:g} kJ/mol; {len(self.chosen)} chosen")

    def summary(self) -> dict:
        """JSON-able summary (no geometries)."""
        return {"threshold_kj_mol": self.threshold_kj_mol, "another_generation": self.another_generation,
                "n_candidates": self.n_candidates, "n_uncovered": self.n_uncovered,
                "max_std_kj_mol": self.max_std_kj_mol, "mean_std_kj_mol": self.mean_std_kj_mol,
                "n_chosen": len(self.chosen), "per_pair": self.per_pair, "message": self.message}


def select_by_disagreement(candidates: Sequence[Dimer], ensembles: ResidualEnsemble | Sequence[ResidualEnsemble],
                           n: int, *, threshold_kj_mol: float = DEFAULT_THRESHOLD_KJ_MOL,
                           min_distance: float = DEFAULT_MIN_DISTANCE,
                           std_kj_mol: np.ndarray | None = None) -> DisagreementSelection:
    """Per pair type, up to ``n`` candidates whose disagreement exceeds ``threshold_kj_mol``: greedily the
    largest first, skipping one whose fingerprint lies within ``min_distance`` (relative) of one already
    chosen, so that the next SAPT set is not n copies of one pose. ``threshold_kj_mol=0`` ranks every covered
    candidate. ``std_kj_mol``: disagreements already computed for ``candidates`` (else computed here)."""
    check_selection(n, threshold_kj_mol, min_distance)
    std = disagreement_kj_mol(candidates, ensembles) if std_kj_mol is None else np.asarray(std_kj_mol, float)
    if std.shape != (len(candidates),):
        raise InputError(f"{std.size} disagreements for {len(candidates)} candidates", field="std_kj_mol",
                         fix="give one value per candidate, or none")
    covered = np.isfinite(std)
    chosen: list[Dimer] = []
    chosen_std: list[float] = []
    per_pair: dict[str, dict[str, float]] = {}
    for pt in sorted({candidates[i].pair_type for i in np.flatnonzero(covered)}):
        idx = np.array([i for i in np.flatnonzero(covered) if candidates[i].pair_type == pt])
        picks = _greedy_diverse([candidates[i] for i in idx], std[idx], n, threshold_kj_mol, min_distance)
        for k in picks:
            d = candidates[idx[k]]
            chosen.append(dataclasses.replace(d, source=d.source | {"disagreement_kj_mol": float(std[idx[k]])}))
            chosen_std.append(float(std[idx[k]]))
        per_pair[pt] = {"n_candidates": int(idx.size), "n_above": int(np.sum(std[idx] > threshold_kj_mol)),
                        "n_chosen": len(picks), "max_std_kj_mol": float(std[idx].max()),
                        "mean_std_kj_mol": float(std[idx].mean())}
    vals = std[covered]
    return DisagreementSelection(
        chosen=chosen, std_kj_mol=chosen_std, threshold_kj_mol=float(threshold_kj_mol),
        another_generation=needs_another_generation(vals, threshold_kj_mol), n_candidates=int(vals.size),
        n_uncovered=int(np.sum(~covered)), max_std_kj_mol=float(vals.max()) if vals.size else float("nan"),
        mean_std_kj_mol=float(vals.mean()) if vals.size else float("nan"), per_pair=per_pair)


def _greedy_diverse(dimers: Sequence[Dimer], std: np.ndarray, n: int, threshold: float,
                    min_distance: float) -> list[int]:
    """Indices into ``dimers`` (one pair type) in order of decreasing ``std`` above ``threshold``, each at least
    ``min_distance`` (fingerprint distance over the mean fingerprint norm) from those taken before."""
    fps = np.array([fingerprint(d) for d in dimers])
    scale = np.linalg.norm(fps, axis=1).mean() or 1.0
    picks: list[int] = []
    for k in np.argsort(-std, kind="stable"):
        if len(picks) == n or std[k] <= threshold:
            break
        if picks and np.min(np.linalg.norm(fps[picks] - fps[k], axis=1)) / scale < min_distance:
            continue
        picks.append(int(k))
    return picks


def check_selection(n: int, threshold_kj_mol: float, min_distance: float = DEFAULT_MIN_DISTANCE) -> None:
    """``InputError`` naming the setting unless n >= 1, threshold >= 0 (kJ/mol) and min_distance >= 0."""
    if n < 1:
        raise InputError(f"n_per_pair = {n}", field="n_per_pair", fix="choose at least one dimer per pair type")
    _check_threshold(threshold_kj_mol)
    if not min_distance >= 0:
        raise InputError(f"min_distance = {min_distance}", field="min_distance",
                         fix=f"give a relative fingerprint distance >= 0, e.g. {DEFAULT_MIN_DISTANCE}")


def _as_list(ensembles) -> list:
    return list(ensembles) if isinstance(ensembles, (list, tuple)) else [ensembles]


def _check_threshold(threshold_kj_mol: float) -> None:
    if not np.isfinite(threshold_kj_mol) or threshold_kj_mol < 0:
        raise InputError(f"threshold_kj_mol = {threshold_kj_mol}", field="threshold_kj_mol",
                         fix="give the members' spread (kJ/mol, >= 0) above which a dimer needs QM, e.g. "
                             f"{DEFAULT_THRESHOLD_KJ_MOL}")
