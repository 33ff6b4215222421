"""``phyneo md``: look into and export MD run directories written by :class:`MDRunner`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from phyneo_flows.errors import InputError

app = typer.Typer(
    help="MD runs: status of a run directory, export of its trajectory to one H5MD file.",
    no_args_is_help=True,
)


def _run_dir(directory: Path) -> Path:
    if not (directory / "checkpoint.npz").exists():
        raise InputError(
            f"{directory} holds no MD checkpoint",
            field="DIRECTORY",
            fix="give a directory written by an MD run",
        )
    return directory


@app.command("info")
def info(
    directory: Annotated[Path, typer.Argument(help="run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Step reached, frames written, time step and guard trips of a run directory."""
    from phyneo_flows.md import checkpoint

    _, meta = checkpoint.load(_run_dir(directory) / "checkpoint.npz")
    out = {
        "step": meta["step"],
        "position_frames": meta["n_frames"],
        "timestep_ps": meta["timestep_ps"],
        "trips": meta["trips"],
        "reference_volume_nm3": meta["reference_volume_nm3"],
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(
            f"step {out['step']}, {out['position_frames']} position frames, dt {out['timestep_ps']} ps, "
            f"{len(out['trips'])} guard trips"
        )


@app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="run directory")],
    output: Annotated[Path, typer.Argument(help="H5MD file to write")],
) -> None:
    """Merge the run's trajectory segments into one H5MD file."""
    from phyneo_flows.md.runner import SEGMENTS
    from phyneo_flows.md.trajectory import export_h5md

    path = export_h5md(_run_dir(directory) / SEGMENTS, output)
    typer.echo(str(path))
