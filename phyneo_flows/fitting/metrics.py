"""Errors of a fit per pair type and SAPT component, and parity plots.

RMSE and MAE (kJ/mol) are taken over the scored points (``data.scoring_mask``: SAPT total below 25 kJ/mol;
same-sign ion pairs at closest contacts of 2 Angstrom and more), per pair type and split.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from phyneo_flows.fitting.data import DimerRecord, scoring_mask
from phyneo_flows.fitting.physics import sapt_array

REPORTED = ("electrostatics", "exchange", "induction", "delta_hf", "dispersion", "total")


def errors(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and max |error| (kJ/mol); NaN for no points."""
    d = np.asarray(pred, dtype=float) - np.asarray(ref, dtype=float)
    if d.size == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "max": float("nan")}
    return {"rmse": float(np.sqrt(np.mean(d**2))), "mae": float(np.mean(np.abs(d))), "max": float(np.abs(d).max())}


def pair_metrics(records: Sequence[DimerRecord], pred: dict[str, np.ndarray],
                 total_override: np.ndarray | None = None) -> dict[str, dict]:
    """{pair type: {"n": points, "n_scored": scored points, component: {rmse, mae, max}}} on scored points.
    ``total_override`` replaces the model total (e.g. physics plus a residual network)."""
    if not records:
        return {}
    mask = scoring_mask(records)
    out: dict[str, dict] = {}
    for pt in sorted({r.pair_type for r in records}):
        sel = np.array([r.pair_type == pt for r in records]) & mask
        row: dict = {"n": int(sum(r.pair_type == pt for r in records)), "n_scored": int(sel.sum())}
        for c in REPORTED:
            p = total_override if (c == "total" and total_override is not None) else pred[c]
            row[c] = errors(np.asarray(p)[sel], sapt_array(records, c)[sel])
        out[pt] = row
    return out


def parity_png(records: Sequence[DimerRecord], pred: dict[str, np.ndarray], title: str = "") -> bytes:
    """A parity plot (model vs SAPT) per component and the total, as PNG bytes: scored points coloured by
    pair type (their RMSE/MAE in the title), unscored ones below 200 kJ/mol as grey crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = scoring_mask(records)
    pairs = sorted({r.pair_type for r in records})
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for ax, c in zip(axes.ravel(), REPORTED, strict=True):
        ref = sapt_array(records, c)
        shown = ~mask & (np.abs(ref) < 200.0)
        if shown.any():
            ax.scatter(ref[shown], np.asarray(pred[c])[shown], s=8, marker="x", color="0.6",
                       label="not scored" if c == REPORTED[0] else None)
        for pt in pairs:
            sel = np.array([r.pair_type == pt for r in records]) & mask
            if sel.any():
                ax.scatter(ref[sel], np.asarray(pred[c])[sel], s=10, alpha=0.7, label=pt)
        if mask.any():
            lo = float(min(ref[mask].min(), np.asarray(pred[c])[mask].min()))
            hi = float(max(ref[mask].max(), np.asarray(pred[c])[mask].max()))
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            e = errors(np.asarray(pred[c])[mask], ref[mask])
            ax.set_title(f"{c}: RMSE {e['rmse']:.2f}, MAE {e['mae']:.2f}", fontsize=9)
        ax.set_xlabel("SAPT (kJ/mol)")
        ax.set_ylabel("model (kJ/mol)")
    if axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def summary(train: Sequence[DimerRecord], test: Sequence[DimerRecord], physics_total: np.ndarray,
            total_with_residual: np.ndarray | None = None) -> dict:
    """``{"pairs": {pair: {n_train, n_test, test_rmse_kj_mol, physics_only_test_rmse_kj_mol}}}``: RMSE of the
    total over the scored test points; ``test_rmse_kj_mol`` includes the residual when one is given.
    ``n_train``/``n_test`` count dimers; ``n_test_scored`` the scored test points."""
    pairs = sorted({r.pair_type for r in (*train, *test)})
    mask = scoring_mask(test) if test else np.zeros(0, bool)
    ref = sapt_array(test, "total") if test else np.zeros(0)
    out = {}
    for pt in pairs:
        sel = np.array([r.pair_type == pt for r in test], dtype=bool) & mask
        phys = errors(np.asarray(physics_total)[sel], ref[sel])["rmse"] if sel.any() else None
        full = phys
        if total_with_residual is not None and sel.any():
            full = errors(np.asarray(total_with_residual)[sel], ref[sel])["rmse"]
        out[pt] = {"n_train": sum(r.pair_type == pt for r in train),
                   "n_test": sum(r.pair_type == pt for r in test), "n_test_scored": int(sel.sum()),
                   "test_rmse_kj_mol": full, "physics_only_test_rmse_kj_mol": phys}
    return {"pairs": out}
