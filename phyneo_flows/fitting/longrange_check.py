"""Does the long range from monomer properties alone match SAPT where the short range has died away?

At closest contacts of ``min_contact_a`` (5 Angstrom) and more, per pair type, the model's permanent-multipole
electrostatics must match SAPT electrostatics within 5 %, its polarisation SAPT induction (delta-HF removed)
and its undamped dispersion SAPT dispersion within 15 %. The deviation of a pair type is
``sum |model - SAPT| / sum |SAPT|`` over its far points (`relative_deviation`: points weigh by their size, so a
scan's nearly vanishing tail does not dominate, and errors of opposite sign do not cancel: until session 14 it
was ``|sum model - sum SAPT| / |sum SAPT|``, which passed EC-EC at 0.6 % while every far point was 8-10 % off,
because scans with attractive and repulsive electrostatics cancelled); the median per-point deviation is
reported beside it. A component whose
SAPT values are all below ``negligible_kj_mol`` in size is reported but not judged (a relative error of a
few J/mol means nothing). A failure means the monomer properties and the SAPT level disagree: fitting would
bury the difference in the Slater A and B.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from phyneo_flows.errors import InputError
from phyneo_flows.ff.model import FFSettings
from phyneo_flows.ff.params import ForceFieldParams
from phyneo_flows.fitting.data import DimerRecord
from phyneo_flows.fitting.physics import long_range

TOLERANCES = {"electrostatics": 0.05, "induction": 0.15, "dispersion": 0.15}
MODEL_TERM = {"electrostatics": "electrostatics", "induction": "polarization", "dispersion": "dispersion"}


class ComponentCheck(BaseModel):
    """One component of one pair type at long range (kJ/mol summed over the far points)."""

    sapt_sum_kj_mol: float
    model_sum_kj_mol: float
    relative_deviation: float
    median_point_deviation: float
    max_abs_sapt_kj_mol: float
    tolerance: float
    judged: bool
    passed: bool


class PairCheck(BaseModel):
    pair_type: str
    n_points: int
    min_contact_a: float
    components: dict[str, ComponentCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.components.values())


def _sapt(rec: DimerRecord, comp: str) -> float:
    c = rec.components_kj_mol
    return c["induction"] - c["delta_hf"] if comp == "induction" else c[comp]


def relative_deviation(model: np.ndarray, sapt: np.ndarray) -> float:
    """``sum |model - sapt| / sum |sapt|``: a size-weighted relative error in which errors of opposite sign on
    points of opposite sign add up instead of cancelling."""
    model, sapt = np.asarray(model, float), np.asarray(sapt, float)
    return float(np.sum(np.abs(model - sapt)) / max(float(np.sum(np.abs(sapt))), 1e-12))


def check_long_range(params: ForceFieldParams, records: Sequence[DimerRecord], *, min_contact_a: float = 5.0,
                     tolerances: dict[str, float] | None = None, negligible_kj_mol: float = 0.05,
                     settings: FFSettings | None = None) -> dict[str, PairCheck]:
    """The long-range check of every pair type with points at ``min_contact_a`` or more (see module doc)."""
    tol = TOLERANCES | (tolerances or {})
    far = [r for r in records if r.closest_contact_a >= min_contact_a]
    if not far:
        raise InputError(f"no dimer has a closest contact of {min_contact_a} A or more", field="dimers",
                         fix="add far points to the scans or lower min_contact_a")
    lr = long_range(params, far, settings)
    out: dict[str, PairCheck] = {}
    for pt in sorted({r.pair_type for r in far}):
        idx = [k for k, r in enumerate(far) if r.pair_type == pt]
        comps = {}
        for comp, term in MODEL_TERM.items():
            s = np.array([_sapt(far[k], comp) for k in idx])
            m = lr[term][idx]
            dev = relative_deviation(m, s)
            point = np.abs(m - s) / np.maximum(np.abs(s), 1e-12)
            judged = bool(np.max(np.abs(s)) >= negligible_kj_mol)
            comps[comp] = ComponentCheck(
                sapt_sum_kj_mol=float(s.sum()), model_sum_kj_mol=float(m.sum()), relative_deviation=float(dev),
                median_point_deviation=float(np.median(point)), max_abs_sapt_kj_mol=float(np.max(np.abs(s))),
                tolerance=tol[comp], judged=judged, passed=(not judged) or dev <= tol[comp])
        out[pt] = PairCheck(pair_type=pt, n_points=len(idx), min_contact_a=min_contact_a, components=comps)
    return out


def failure_messages(checks: dict[str, PairCheck], sapt_basis: str | None = None) -> list[str]:
    """One line per failed (judged) component, naming the pair type, the component, the measured deviation
    against its limit, and the usual cause and fix: monomer properties in another basis than the SAPT reference
    (the far electrostatics of HF densities differ by 5-25 % between jun- and aug-cc-pVDZ; docs/fitting.md)."""
    basis = sapt_basis or "the SAPT basis"
    out = []
    for pt, c in checks.items():
        for comp, v in c.components.items():
            if v.judged and not v.passed:
                out.append(f"long-range check: {pt} {comp} deviates {100 * v.relative_deviation:.1f} % from SAPT at "
                           f"closest contacts >= {c.min_contact_a:g} A ({c.n_points} points; limit "
                           f"{100 * v.tolerance:.0f} %): the Slater fit will absorb the difference. Compute the "
                           f"monomer properties in {basis} (profile `monomers: basis:`) or the SAPT reference in "
                           "the properties' basis")
    return out


def format_checks(checks: dict[str, PairCheck]) -> str:
    """A plain-text table of the checks."""
    lines = [f"{'pair':<12}{'n':>4}  {'component':<15}{'SAPT':>10}{'model':>10}{'dev':>8}{'median':>8}  verdict"]
    for pt, c in checks.items():
        for comp, v in c.components.items():
            verdict = ("ok" if v.passed else "FAIL") if v.judged else "negligible"
            lines.append(f"{pt:<12}{c.n_points:>4}  {comp:<15}{v.sapt_sum_kj_mol:>10.3f}{v.model_sum_kj_mol:>10.3f}"
                         f"{100 * v.relative_deviation:>7.1f}%{100 * v.median_point_deviation:>7.1f}%  {verdict}")
    return "\n".join(lines)
