"""Cation solvation: radial distribution functions, coordination numbers per species (to the first
minimum of the RDF) and the fraction of contact ion pairs.

Units: positions and boxes in nm (orthorhombic boxes, edge lengths per frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.statistics import block_average
from phyneo_flows.errors import InputError


def _boxes(box: np.ndarray, n_frames: int) -> np.ndarray:
    b = np.asarray(box, dtype=float)
    if b.shape == (3,):
        b = np.broadcast_to(b, (n_frames, 3))
    if b.shape != (n_frames, 3) or np.any(b <= 0):
        raise InputError(f"box must be (3,) or (frames, 3) positive edge lengths, got {b.shape}", field="box")
    return b


def _distances(xa: np.ndarray, xb: np.ndarray, box: np.ndarray) -> np.ndarray:
    d = xa[:, None, :] - xb[None, :, :]
    d -= box * np.round(d / box)
    return np.sqrt(np.sum(d * d, axis=-1))


def rdf(positions: np.ndarray, box: np.ndarray, idx_a: Sequence[int], idx_b: Sequence[int], *,
        r_max: float | None = None, n_bins: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """g_ab(r) averaged over frames; returns (r bin centres, g, running coordination number n_ab(r)).

    ``positions`` (frames, atoms, 3); self pairs are excluded when the sets overlap. ``r_max`` defaults
    to half the smallest box edge.
    """
    x = np.asarray(positions, dtype=float)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(f"expected (frames, atoms, 3), got {x.shape}", field="positions")
    boxes = _boxes(box, x.shape[0])
    ia = np.asarray(idx_a, dtype=int)
    ib = np.asarray(idx_b, dtype=int)
    if ia.size == 0 or ib.size == 0:
        raise InputError("empty atom selection", field="idx_a")
    r_max = float(0.5 * boxes.min()) if r_max is None else float(r_max)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    same = ia[:, None] == ib[None, :]
    n_pairs = ia.size * ib.size - int(same.sum())
    rho_b = 0.0
    for f in range(x.shape[0]):
        d = _distances(x[f, ia], x[f, ib], boxes[f])[~same]
        hist += np.histogram(d, bins=edges)[0]
        rho_b += n_pairs / ia.size / np.prod(boxes[f])
    rho_b /= x.shape[0]
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    vol_mean = np.mean(np.prod(boxes, axis=1))
    g = hist / (x.shape[0] * n_pairs * shell / vol_mean)
    r = 0.5 * (edges[1:] + edges[:-1])
    n_r = np.cumsum(hist) / (x.shape[0] * ia.size)
    return r, g, n_r


def first_minimum(r: np.ndarray, g: np.ndarray, *, smooth: int = 3) -> float:
    """Position of the first minimum after the first peak (the first local maximum above g = 1)."""
    gs = np.convolve(g, np.ones(smooth) / smooth, mode="same") if smooth > 1 else np.asarray(g)
    above = np.nonzero(gs > 1.0)[0]
    if above.size == 0:
        raise InputError("g(r) never exceeds 1: no solvation shell", field="g")
    i = above[0]
    while i + 1 < gs.size and gs[i + 1] >= gs[i]:
        i += 1
    while i + 1 < gs.size and gs[i + 1] <= gs[i]:
        i += 1
    if i >= gs.size - 1:
        raise InputError("no minimum after the first peak within r_max", field="r_max", fix="raise r_max")
    return float(r[i])


def coordination_numbers(
    positions: np.ndarray, box: np.ndarray, centre_idx: Sequence[int], sites: Mapping[str, Sequence[int]], *,
    r_cut: Mapping[str, float] | None = None, r_max: float | None = None, n_bins: int = 200,
) -> dict[str, PropertyResult]:
    """Mean number of each species' coordinating sites within the first minimum of its RDF.

    ``sites`` maps a species name to the atoms that coordinate (e.g. carbonyl O of EC, F of PF6-);
    ``r_cut`` overrides the automatic first minimum. Errors by blocking over frames.
    """
    x = np.asarray(positions, dtype=float)
    boxes = _boxes(box, x.shape[0])
    ci = np.asarray(centre_idx, dtype=int)
    out = {}
    for name, idx in sites.items():
        ib = np.asarray(idx, dtype=int)
        r, g, _ = rdf(x, boxes, ci, ib, r_max=r_max, n_bins=n_bins)
        rc = float(r_cut[name]) if r_cut and name in r_cut else first_minimum(r, g)
        not_self = ci[:, None] != ib[None, :]
        per_frame = np.array([np.sum((_distances(x[f, ci], x[f, ib], boxes[f]) < rc) & not_self) / ci.size
                              for f in range(x.shape[0])])
        blk = block_average(per_frame) if per_frame.size >= 8 else None
        out[name] = PropertyResult(
            name=f"coordination_number:{name}", value=float(per_frame.mean()),
            uncertainty=float(blk.sem) if blk else float(per_frame.std(ddof=1) / np.sqrt(per_frame.size)),
            unit="1", method="neighbours within the first RDF minimum; blocking error over frames",
            fit_window=(0.0, rc), n_samples=int(x.shape[0]),
            details={"r_cut_nm": rc, "g_peak": float(g.max()), "r_peak_nm": float(r[np.argmax(g)])})
    return out


def ion_pairing(
    positions: np.ndarray, box: np.ndarray, cation_idx: Sequence[int], anion_site_idx: Sequence[int],
    anion_of_site: Sequence[int], r_cut: float,
) -> PropertyResult:
    """Fraction of cations in contact with at least one anion (contact ion pairs plus aggregates).

    A cation is in contact with an anion when any of that anion's sites (``anion_site_idx``, with
    ``anion_of_site`` giving the anion id of each site) lies within ``r_cut`` (nm, usually the first
    minimum of the cation-site RDF). details gives the free/SSIP (0 anions), CIP (1) and AGG (>= 2)
    fractions. Error by blocking over frames.
    """
    x = np.asarray(positions, dtype=float)
    boxes = _boxes(box, x.shape[0])
    ci = np.asarray(cation_idx, dtype=int)
    si = np.asarray(anion_site_idx, dtype=int)
    owner = np.asarray(anion_of_site, dtype=int)
    if owner.shape != si.shape:
        raise InputError("anion_of_site needs one anion id per site", field="anion_of_site")
    n_anions = int(owner.max()) + 1
    counts = np.zeros((x.shape[0], ci.size), dtype=int)
    for f in range(x.shape[0]):
        close = _distances(x[f, ci], x[f, si], boxes[f]) < r_cut  # (cations, sites)
        touched = np.zeros((ci.size, n_anions), dtype=bool)
        rows, cols = np.nonzero(close)
        touched[rows, owner[cols]] = True
        counts[f] = touched.sum(axis=1)
    contact = (counts >= 1).mean(axis=1)
    blk = block_average(contact) if contact.size >= 8 else None
    return PropertyResult(
        name="contact_ion_pair_fraction", value=float(contact.mean()),
        uncertainty=float(blk.sem) if blk else float(contact.std(ddof=1) / np.sqrt(max(1, contact.size))),
        unit="1", method="cations with >= 1 anion within r_cut (CIP + AGG); blocking error over frames",
        fit_window=(0.0, float(r_cut)), n_samples=int(x.shape[0]),
        details={"free_or_ssip": float((counts == 0).mean()), "cip": float((counts == 1).mean()),
                 "agg": float((counts >= 2).mean()), "r_cut_nm": float(r_cut)})
