"""The physics fit as the pipeline's fit stage: SAPT stage outputs in, generation-1 parameters out.

``PipelineFitMaker`` fills the ``fit_maker`` slot of ``phyneo_flows.flows.PhyneoElectrolyteMaker`` (see
docs/pipeline.md): ``key(sapt_keys)`` and ``make(box, sapt, formulation)``. The SAPT rows become
``DimerRecord``s (``sapt_records``): one scan per pose the sampling stage scanned (its ``source`` less the
scan contact), points ordered by closest contact; failed or geometry-less rows are skipped and counted.
Molecules in ``known_params`` are frozen (reused as they are); the rest start from their monomer-property
files (monatomic ions from ``FREE_IONS``) and their Slater A/B are fitted by ``run_physics_fit``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job
from pydantic import Field

from phyneo_flows.errors import InputError
from phyneo_flows.fitting.data import COMPONENTS, DimerRecord
from phyneo_flows.fitting.schemas import FitDocument
from phyneo_flows.reuse import REUSE_CONFIG, previous
from phyneo_flows.schemas import as_dict, input_hash


class PipelineFitDocument(FitDocument):
    """A ``FitDocument`` as the pipeline's report reads it (docs/pipeline.md, "What the report reads").

    ``pair_metrics``: {pair type: {n, n_train, n_test, train_rmse_kj_mol, test_rmse_kj_mol, test_mae_kj_mol,
    rmse_kj_mol, mae_kj_mol}} on the scored points (total energy; ``rmse``/``mae`` over every split).
    ``parity``: {pair type: {reference_kj_mol, predicted_kj_mol, split}}, one point per dimer (data store)."""

    generation: int = 1
    pair_metrics: dict[str, dict[str, float | int]] = {}
    parity: dict[str, dict[str, list]] = {}
    n_skipped: int = Field(0, description="SAPT rows left out: failed jobs, missing geometry or components")
    sapt_keys: list[str] = []
    ensemble_dirs: list[str] = Field([], description="saved residual ensembles (ResidualEnsemble.save), one per "
                                                     "pair type the networks cover; MD adds them as a term")
    residual_metrics: dict[str, dict[str, Any]] = Field(
        {}, description="per covered pair type: n_train, n_val, n_test, n_test_scored, "
                        "physics_only_test_rmse_kj_mol, test_rmse_kj_mol (physics + residual), mean_std_kj_mol "
                        "(members' spread on the scored test points), epochs, device, directory")



def sapt_records(sapt: Sequence[Any]) -> tuple[list[DimerRecord], int]:
    """(records, number of rows skipped) from SAPT stage outputs (``SaptPairDocument`` or its dict)."""
    records, skipped = [], 0
    poses: dict[str, dict[str, int]] = {}  # per pair type, across documents (later generations add scans)
    by_scan: dict[tuple[str, int], int] = {}
    for doc in map(as_dict, sapt):
        skipped += len(doc.get("failures") or [])
        pair_poses = poses.setdefault(doc["pair_type"], {})
        rows = []
        for row in doc.get("results") or []:
            dimer = row.get("dimer") or {}
            comps = {c: row.get(c) for c in COMPONENTS}
            if "monomer_a" not in dimer or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                                   for v in comps.values()):
                skipped += 1
                continue
            source = {k: v for k, v in (row.get("source") or {}).items() if k != "scan_contact_A"}
            scan = pair_poses.setdefault(json.dumps(source, sort_keys=True, default=str), len(pair_poses))
            rows.append((scan, row, dimer, comps))
        for scan, row, dimer, comps in sorted(rows, key=lambda t: (t[0], t[1].get("closest_contact_a") or 0.0)):
            a, b = dimer["monomer_a"], dimer["monomer_b"]
            point = by_scan[doc["pair_type"], scan] = by_scan.get((doc["pair_type"], scan), -1) + 1
            records.append(DimerRecord(
                pair_type=doc["pair_type"], scan=scan, point=point, species_a=a["name"], species_b=b["name"],
                symbols_a=tuple(a["symbols"]), symbols_b=tuple(b["symbols"]),
                positions_a_nm=np.asarray(a["coordinates_nm"], dtype=float),
                positions_b_nm=np.asarray(b["coordinates_nm"], dtype=float),
                charge_a=int(a.get("charge", 0)), charge_b=int(b.get("charge", 0)),
                components_kj_mol={c: float(v) for c, v in comps.items()},
                closest_contact_a=float(row.get("closest_contact_a") or np.nan),
                method=row.get("method", doc.get("method", "sapt0")), basis=row.get("basis", doc.get("basis", "")),
                extra={"source": row.get("source"), "input_hash": row.get("input_hash")}))
    return records, skipped


def extra_training_dimers(paths: Sequence[str], records: Sequence[DimerRecord], species: set[str]
                          ) -> list[DimerRecord]:
    """The dimers of ``paths`` whose two molecules are in ``species``, as training data: marked targeted
    (``split_by_scan`` puts them in training), scans renumbered past the pipeline's own, and checked to be at the
    level of ``records``."""
    from dataclasses import replace

    from phyneo_flows.fitting.data import load_dimers

    level = {(r.method.lower(), r.basis.lower()) for r in records}
    offset = 1000 * (1 + max((r.scan for r in records), default=0) // 1000)
    out = []
    for r in load_dimers(list(paths)):
        if r.species_a not in species or r.species_b not in species:
            continue
        if (r.method.lower(), r.basis.lower()) not in level:
            raise InputError(f"extra dimer {r.pair_type} scan {r.scan} is {r.method}/{r.basis}, the "
                             f"pipeline's SAPT is {sorted(level)}", field="fit.extra_dimers",
                             fix="give dimers computed at the SAPT stage's method and basis")
        source = {**(r.extra.get("source") or {}), "targeted": "extra dimers"}
        out.append(replace(r, scan=offset + r.scan, extra={**r.extra, "source": source}))
    return out


def _tree_hash(path: str) -> str | None:
    p = Path(path)
    if p.is_dir():
        return hashlib.sha256("".join(f"{f.name}:{_file_hash(str(f))}" for f in sorted(p.glob("*.jsonl")))
                              .encode()).hexdigest()[:16]
    return _file_hash(path)


def _file_hash(path: str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else str(path)


@dataclass
class PipelineFitMaker(Maker):
    """Fit the Slater A/B of the formulation's new molecules to the pipeline's SAPT dimers; reuse known ones.

    ``known_params``: a phyneo-ff file of molecules fitted before (frozen). ``property_files``: {species:
    monomer-properties JSON} for the molecules still to fit. ``fit_settings``: ``FitSettings`` fields.
    ``evaluate_known``: when every species is known, still score the known parameters on the dimers (no
    optimiser; a minute or two of jax compilation on a busy 2-core machine); False returns them as they are."""

    name: str = "physics fit"
    known_params: str | None = None
    property_files: dict[str, str] = field(default_factory=dict)
    fit_settings: dict = field(default_factory=dict)
    plots: bool = False  # the report draws its own parity plots from ``parity``
    evaluate_known: bool = True  # all species known: still score them on the dimers (parity, pair_metrics)
    residual: dict | None = None  # ResidualConfig fields: train residual ensembles (one per covered pair type)
    work_dir: str | None = None  # where ensembles and their checkpoints go (``<work_dir>/<input hash>/``)
    # SAPT-labelled dimers computed before (JSONL files or folders, the fixtures' format, at the SAPT stage's
    # level): those of the formulation's pair types join the training data (never the test set)
    extra_dimers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.residual is not None:
            from phyneo_flows.fitting.residual import ResidualConfig

            ResidualConfig(**self.residual)  # a bad setting fails when the flow is built, not hours later

    def key(self, sapt_keys: list[str], monomers_key: str | None = None) -> str:
        """``monomers_key``: the input hash of the pipeline's monomer-properties stage, when it feeds the fit.
        The fit settings enter with their defaults filled in, so a changed default refits."""
        from phyneo_flows.fitting.shortrange import FitSettings

        parts = [sorted(sapt_keys), _file_hash(self.known_params),
                 {s: _file_hash(p) for s, p in sorted(self.property_files.items())},
                 FitSettings(**self.fit_settings).model_dump(),
                 self.evaluate_known]
        if self.residual is not None:
            parts.append({"residual": self.residual})
        if monomers_key:
            parts.append({"monomers": monomers_key})
        if self.extra_dimers:
            parts.append({"extra_dimers": [_tree_hash(p) for p in self.extra_dimers]})
        return input_hash("pipeline-physics-fit", *parts)

    @job(data=["parity", "parity_png"], config=REUSE_CONFIG, output_schema=PipelineFitDocument)
    def make(self, box: Any, sapt: list, formulation: dict,  # type: ignore[override]
             generation: int = 1, monomers: Any = None) -> PipelineFitDocument:
        """``generation``: the force-field generation this fit makes (1 from the first SAPT data; a later
        generation's fit gets every SAPT document so far). ``monomers``: the monomer-properties stage's document
        (``MonomersDocument``): its molecules' long range comes from it (``property_files`` win where both)."""
        from phyneo_flows.ff.params import load_params
        from phyneo_flows.fitting.jobs import PhysicsFitMaker, known_molecules
        from phyneo_flows.fitting.shortrange import FitSettings, run_physics_fit
        from phyneo_flows.formulation import Formulation

        start = time.perf_counter()
        docs = [as_dict(s) for s in sapt]
        sapt_keys = [d.get("input_hash", "") for d in docs]
        monomers = as_dict(monomers) if monomers is not None else None
        key = self.key(sapt_keys, monomers.get("input_hash") if monomers else None)
        if (done := previous("fit", key)) is not None:
            return PipelineFitDocument.model_validate(done)
        form = Formulation.model_validate(formulation)
        species = [s.name for s in form.species()]
        settings = FitSettings(**self.fit_settings)
        known = load_params(self.known_params) if self.known_params else None
        reused = known_molecules(known, species)
        if len(reused) < len(species):
            computed = (monomers or {}).get("monomers", {})
            params = PhysicsFitMaker(known_params=self.known_params,
                                     property_files={**computed, **self.property_files})._start_params(species, known)
        else:
            params = known
        params = params.model_copy(update={"molecules": {s: params.molecules[s] for s in species}})
        records, skipped = sapt_records(docs)
        records = [r for r in records if r.species_a in params.molecules and r.species_b in params.molecules]
        if records and self.extra_dimers:
            records += extra_training_dimers(self.extra_dimers, records, set(params.molecules))
        common = dict(formulation=form.name, generation=generation, input_hash=key, sapt_keys=sapt_keys,
                      reused_molecules=reused, frozen_molecules=reused, settings=settings.model_dump(),
                      n_dimers=len(records), n_skipped=skipped)
        if not records or (len(reused) == len(species) and not self.evaluate_known):
            if len(reused) < len(species):
                raise InputError(f"{sorted(set(species) - set(reused))} need a fit but the SAPT stage gave no "
                                 f"usable dimers ({skipped} skipped)", field="sapt",
                                 fix="rerun the SAPT stage (its rows need components and the dimer geometry)")
            return PipelineFitDocument(params=params.model_dump(mode="json"), **common,
                                       wall_time_s=time.perf_counter() - start, cores=1)
        if len(reused) == len(species):  # nothing to fit: the known parameters against these dimers only
            from phyneo_flows.fitting.metrics import pair_metrics, summary
            from phyneo_flows.fitting.shortrange import fit_short_range

            res = fit_short_range(params, records, frozen=reused, settings=settings)
            metrics = {name: pair_metrics(res.split[name], res.predictions[name]) for name in res.predictions}
            summ = summary(res.split["train"], res.split["test"],
                           res.predictions.get("test", {}).get("total", np.zeros(0)))
            checks, pngs = {}, {}
        else:
            fit = run_physics_fit(params, records, frozen=reused, settings=settings, plots=self.plots)
            res, metrics, summ, checks, pngs = fit.result, fit.metrics, fit.summary, fit.long_range_check, \
                fit.parity_png
        ensembles: list[str] = []
        residual_metrics: dict[str, dict[str, Any]] = {}
        if self.residual is not None:
            from phyneo_flows.fitting.metrics import summary

            directory = Path(self.work_dir or Path.cwd() / "fit") / key
            ensembles, residual_metrics, hybrid_test = train_pair_residuals(res, self.residual, directory)
            summ = summary(res.split["train"], res.split["test"],
                           res.predictions.get("test", {}).get("total", np.zeros(0)), hybrid_test)
        import base64

        return PipelineFitDocument(
            **common, pairs=summ["pairs"], metrics=metrics, long_range_check=checks,
            ensemble_dirs=ensembles, residual_metrics=residual_metrics,
            split=res.split_ids(), fitted_molecules=res.fitted_molecules, params=res.params.model_dump(mode="json"),
            pair_metrics=report_metrics(res.split, res.predictions), parity=parity(res.split, res.predictions),
            parity_png={k: base64.b64encode(v).decode() for k, v in pngs.items()},
            wall_time_s=time.perf_counter() - start, cores=1)


def report_metrics(split: dict[str, list[DimerRecord]], pred: dict[str, dict[str, np.ndarray]]
                   ) -> dict[str, dict[str, float | int]]:
    """Errors of the total per pair type on the scored points (``data.scoring_mask``), flat for the report."""
    from phyneo_flows.fitting.data import scoring_mask

    out: dict[str, dict[str, float | int]] = {}
    every: dict[str, list[float]] = {}
    for name, recs in split.items():
        if not recs or name not in pred:
            continue
        mask = scoring_mask(recs)
        ref = np.array([r.total for r in recs])
        for pt in sorted({r.pair_type for r in recs}):
            sel = np.array([r.pair_type == pt for r in recs])
            row = out.setdefault(pt, {"n": 0})
            row["n"] += int(sel.sum())
            row[f"n_{name}"] = int(sel.sum())
            d = (pred[name]["total"] - ref)[sel & mask]
            every.setdefault(pt, []).extend(d.tolist())
            if d.size:
                row[f"{name}_rmse_kj_mol"] = float(np.sqrt(np.mean(d ** 2)))
                if name == "test":
                    row["test_mae_kj_mol"] = float(np.mean(np.abs(d)))
    for pt, d in every.items():
        if d:
            out[pt]["rmse_kj_mol"] = float(np.sqrt(np.mean(np.square(d))))
            out[pt]["mae_kj_mol"] = float(np.mean(np.abs(d)))
    return out


def parity(split: dict[str, list[DimerRecord]], pred: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, list]]:
    """{pair type: {reference_kj_mol, predicted_kj_mol, split}}: the total of every dimer, model vs SAPT."""
    out: dict[str, dict[str, list]] = {}
    for name, recs in split.items():
        for r, p in zip(recs, pred.get(name, {}).get("total", []), strict=False):
            row = out.setdefault(r.pair_type, {"reference_kj_mol": [], "predicted_kj_mol": [], "split": []})
            row["reference_kj_mol"].append(r.total)
            row["predicted_kj_mol"].append(float(p))
            row["split"].append(name)
    return out


def _tag(pair: str) -> str:
    return pair.replace("+", "p").replace("-", "_")


def train_pair_residuals(res, residual: dict, directory: Path
                         ) -> tuple[list[str], dict[str, dict[str, Any]], np.ndarray]:
    """Train one residual ensemble per pair type that ``ResidualConfig(**residual)`` covers, on SAPT total minus
    the physics total of ``res`` (a ``FitResult``), with the fit's own train/validation split; save each in
    ``directory/residual_<pair>`` (checkpoints beside it, so an interrupted training resumes).

    Returns (ensemble folders, metrics per pair type, the test totals with the residual added where covered).
    A pair type without training or validation scans is reported in the metrics with ``skipped`` and the
    reason, and gets no network."""
    from phyneo_flows.fitting.data import scoring_mask
    from phyneo_flows.fitting.residual import ResidualConfig, rmse, train_residual

    base = ResidualConfig(**residual)
    split, pred = res.split, res.predictions
    test = split.get("test") or []
    hybrid_test = np.array(pred.get("test", {}).get("total", np.zeros(len(test))), dtype=float)
    dirs: list[str] = []
    metrics: dict[str, dict[str, Any]] = {}
    every = [r for recs in split.values() for r in recs]
    for pt in sorted({r.pair_type for r in every}):
        first = next(r for r in every if r.pair_type == pt)
        if not base.applies(first.species_a, first.species_b, first.charge_a, first.charge_b):
            continue
        sel = {name: np.array([k for k, r in enumerate(recs) if r.pair_type == pt], dtype=int)
               for name, recs in split.items()}
        part = {name: [split[name][k] for k in idx] for name, idx in sel.items()}
        physics = {name: np.asarray(pred[name]["total"])[idx] if name in pred else np.zeros(0)
                   for name, idx in sel.items()}
        if not part.get("train") or not part.get("val"):
            metrics[pt] = {"skipped": "no training or no validation scan of this pair type",
                           "n_train": len(part.get("train", [])), "n_val": len(part.get("val", []))}
            continue
        config = base.model_copy(update={"pair_types": (pt,)})
        ens = train_residual(part["train"], part["val"], physics["train"], physics["val"], config,
                             checkpoint_dir=directory / f"checkpoint_{_tag(pt)}")
        out = ens.save(directory / f"residual_{_tag(pt)}")
        dirs.append(str(out))
        row: dict[str, Any] = {"n_train": len(part["train"]), "n_val": len(part["val"]),
                               "n_test": len(part.get("test", [])), "epochs": ens.history["epochs"],
                               "physics_fallback_members": int(sum(ens.history["physics_fallback"])),
                               "device": ens.history["device"], "directory": str(out)}
        if part.get("test"):
            y = np.array([r.total for r in part["test"]])
            mask = scoring_mask(part["test"])
            mean, std = ens.predict(part["test"], physics["test"])
            hybrid_test[sel["test"]] = mean
            row |= {"n_test_scored": int(mask.sum()),
                    "physics_only_test_rmse_kj_mol": rmse(physics["test"], y, mask),
                    "test_rmse_kj_mol": rmse(mean, y, mask),
                    "mean_std_kj_mol": float(std[mask].mean()) if mask.any() else None}
        metrics[pt] = row
    return dirs, metrics, hybrid_test
