"""`phyneo analyze ...`: property analysis of saved series (the lead mounts ``app`` as ``analyze``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from phyneo_flows.errors import InputError

app = typer.Typer(help="Analyse saved MD series: viscosity, reference values.", no_args_is_help=True)


def _load_npy(path: Path, field: str) -> np.ndarray:
    if not path.exists():
        raise InputError(f"file {path} not found", field=field)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read {path} as a .npy array: {exc}", field=field,
                         fix="save it with numpy.save(path, array)") from exc
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path} holds several arrays (npz); give one array", field=field)
    return arr


@app.command()
def viscosity(
    pressure_tensor: Path = typer.Option(..., "--pressure-tensor", help="(samples, 3, 3) array in bar, .npy"),
    dt_ps: float = typer.Option(..., "--dt-ps", help="time between samples (ps)"),
    volume_nm3: float = typer.Option(..., "--volume-nm3", help="box volume (nm^3)"),
    temperature_k: float = typer.Option(..., "--temperature-k", help="temperature (K)"),
    n_segments: int | None = typer.Option(None, "--n-segments",
                                          help="pieces the run is cut into (default: 64, >= 256 samples each)"),
    max_time_ps: float | None = typer.Option(None, "--max-time-ps", help="longest correlation time"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Green-Kubo viscosity (time-decomposition method) of a saved pressure-tensor series."""
    from phyneo_flows.analysis.viscosity import check_pressure_tensor, viscosity_green_kubo

    for value, field, unit in ((dt_ps, "--dt-ps", "ps"), (volume_nm3, "--volume-nm3", "nm^3"),
                               (temperature_k, "--temperature-k", "K")):
        if not np.isfinite(value) or value <= 0:
            raise InputError(f"must be a positive number of {unit}, got {value}", field=field)
    p = check_pressure_tensor(_load_npy(pressure_tensor, "--pressure-tensor"), field="--pressure-tensor")
    res = viscosity_green_kubo(p, dt_ps, volume_nm3, temperature_k, n_segments=n_segments,
                               max_time_ps=max_time_ps, trajectory=str(pressure_tensor))
    if as_json:
        typer.echo(json.dumps({
            "viscosity_mpa_s": res.value, "uncertainty_mpa_s": res.uncertainty, "method": res.method,
            "fit_window_ps": list(res.fit_window) if res.fit_window else None, "n_samples": res.n_samples,
            "n_segments": res.n_independent, "t_cut_ps": res.details["t_cut_ps"],
            "temperature_k": temperature_k, "volume_nm3": volume_nm3, "dt_ps": dt_ps,
        }))
    else:
        typer.echo(f"viscosity {res.value:.4g} +/- {res.uncertainty:.2g} mPa s "
                   f"(Green-Kubo, time decomposition over {res.n_independent} segments, "
                   f"fit to {res.details['t_cut_ps']:.3g} ps)")


@app.command()
def experiments(
    system: str | None = typer.Option(None, "--system", help="only this system"),
    extra: Path | None = typer.Option(None, "--file", help="user YAML table that extends the packaged one"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
) -> None:
    """List the reference values (experiment and published simulations) with their sources."""
    from phyneo_flows.analysis.experiment import load_experiments

    rows = [e for e in load_experiments(extra) if system is None or e.system.lower() == system.lower()]
    if as_json:
        typer.echo(json.dumps([e.model_dump() for e in rows]))
        return
    for e in rows:
        t = f" at {e.temperature_k:g} K" if e.temperature_k is not None else ""
        typer.echo(f"{e.system}: {e.property} = {e.value:g} {e.unit}{t}  [{e.source}]")
