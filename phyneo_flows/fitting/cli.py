"""`phyneo fit ...`: score a parameter set on SAPT dimers, and report stored physics fits."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from phyneo_flows.errors import InputError

app = typer.Typer(help="Physics fits: score parameters on SAPT dimers, report stored fits.", no_args_is_help=True)


def evaluate_summary(params_path: Path, dimers_path: Path, residual: Path | None = None) -> dict:
    """``{"pairs": {pair: {n_train: 0, n_test, n_test_scored, test_rmse_kj_mol, physics_only_test_rmse_kj_mol}},
    "metrics": {pair: {component: {rmse, mae, max}}}}`` of the parameters on every dimer of ``dimers_path``."""
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.fitting.data import load_dimers
    from phyneo_flows.fitting.metrics import pair_metrics, summary
    from phyneo_flows.fitting.physics import predict

    params = load_params(params_path)
    try:
        records = load_dimers(dimers_path)
    except json.JSONDecodeError as exc:
        raise InputError(f"{dimers_path} is not JSON Lines: {exc}", field="DIMERS",
                         fix="one JSON object per line, as fixtures/fitting/make_sapt.py writes") from exc
    if not records:
        raise InputError(f"{dimers_path} holds no SAPT-labelled dimer", field="DIMERS",
                         fix="give a JSONL file (or folder) with components_kj_mol on each line")
    unknown = sorted({m for r in records for m in (r.species_a, r.species_b)} - set(params.molecules))
    if unknown:
        raise InputError(f"the dimers contain {unknown}, which {params_path} has no parameters for",
                         field="PARAMS", fix=f"use a parameter file with {unknown} (it has {sorted(params.molecules)})")
    pred = predict(params, records)
    with_residual = None
    if residual is not None:
        try:
            from phyneo_flows.fitting.residual import load_ensemble
        except ImportError as exc:
            raise InputError(f"residual networks are not available: {exc}", field="--residual",
                             fix="leave --residual out to score the physics model alone") from exc
        mean, _std = load_ensemble(residual).predict(records, pred["total"])
        with_residual = np.asarray(mean)
    out = summary([], records, pred["total"], with_residual)
    out["metrics"] = pair_metrics(records, pred)
    return out


@app.command()
def evaluate(
    params: Annotated[Path, typer.Argument(help="phyneo-ff parameter file (or a folder with params.json)")],
    dimers: Annotated[Path, typer.Argument(help="SAPT-labelled dimers: a JSONL file or a folder of them")],
    residual: Annotated[Path | None, typer.Option("--residual", help="folder of a residual-network ensemble")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Score PARAMS on every dimer of DIMERS: RMSE of the total (kJ/mol) over the scored points per pair type."""
    res = evaluate_summary(params, dimers, residual)
    if as_json:
        sys.stdout.write(json.dumps(res, indent=1) + "\n")
        return
    _print_pairs(res["pairs"])


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print_pairs(pairs: dict) -> None:
    typer.echo(f"{'pair':<12}{'n_train':>8}{'n_test':>8}{'scored':>8}{'RMSE':>10}{'physics RMSE':>14}  (kJ/mol)")
    for pt, row in pairs.items():
        typer.echo(f"{pt:<12}{row['n_train']:>8}{row['n_test']:>8}{row.get('n_test_scored', 0):>8}"
                   f"{_fmt(row['test_rmse_kj_mol']):>10}{_fmt(row['physics_only_test_rmse_kj_mol']):>14}")


def stored_fit(formulation: str) -> dict:
    """The newest stored physics-fit document of ``formulation`` (data-store fields not loaded)."""
    from phyneo_flows.settings import get_settings
    from phyneo_flows.store import connected, get_store

    store = connected(get_store(get_settings()))
    doc = store.query_one({"output.stage": "fit", "output.kind": "physics", "output.formulation": formulation},
                          properties=["uuid", "output", "completed_at"], load=False, sort={"completed_at": -1})
    if doc is None:
        raise InputError(f"no physics fit stored for formulation {formulation!r}", field="FORMULATION",
                         fix="run the workflow (or PhysicsFitMaker) first; `phyneo query --stage fit` lists fits")
    return doc


@app.command()
def report(
    formulation: Annotated[str, typer.Argument(help="formulation name")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The stored physics fit of FORMULATION (the newest: the latest generation): per pair type the held-out RMSE
    (with the residual networks when the fit trained them, beside the physics-only one), the split and the
    metrics."""
    doc = stored_fit(formulation)
    o = doc["output"]
    res = {"pairs": o.get("pairs", {}), "formulation": formulation, "job_id": doc.get("uuid"),
           "fitted_molecules": o.get("fitted_molecules", []), "reused_molecules": o.get("reused_molecules", []),
           "split": o.get("split", {}), "metrics": o.get("metrics", {}),
           "long_range_check": o.get("long_range_check", {}), "generation": o.get("generation"),
           "residual_metrics": o.get("residual_metrics", {}), "ensemble_dirs": o.get("ensemble_dirs", [])}
    if as_json:
        sys.stdout.write(json.dumps(res, indent=1, default=str) + "\n")
        return
    typer.echo(f"physics fit of {formulation} (job {res['job_id']}); fitted {res['fitted_molecules']}, "
               f"reused {res['reused_molecules']}")
    _print_pairs(res["pairs"])
    for name, pairs in res["metrics"].items():
        for pt, row in pairs.items():
            parts = ", ".join(f"{c} {row[c]['rmse']:.2f}/{row[c]['mae']:.2f}" for c in row if isinstance(row[c], dict))
            typer.echo(f"  {name:<5} {pt:<12} RMSE/MAE: {parts}")


@app.command()
def clusters(
    params: Annotated[Path, typer.Argument(help="phyneo-ff parameter file (or a folder with params.json)")],
    clusters_file: Annotated[Path | None, typer.Option("--clusters", help="cluster JSON (make_clusters.py's; "
                                                       "default fixtures/fitting/clusters_li_ec.json)")] = None,
    level: Annotated[str, typer.Option("--level", help="reference level in the file")] = "hf/aug-cc-pvdz",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON list")] = False,
) -> None:
    """Many-body check: FF binding energies of the clusters (kJ/mol) against the QM reference of the file."""
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.fitting.clusters import DEFAULT_CLUSTERS, many_body_check

    rows = many_body_check(load_params(params), clusters_file or DEFAULT_CLUSTERS, level=level)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    typer.echo(f"{'n':>3}{'FF':>11}{level:>20}{'error %':>10}{'pol. many-body':>16}  (kJ/mol)")
    for r in rows:
        typer.echo(f"{r['n']:>3}{r['ff_kj_mol']:>11.2f}{r['reference_kj_mol']:>20.2f}"
                   f"{100 * r['relative_error']:>10.1f}{r['polarization_many_body']:>16.2f}")
