"""``phyneo qm ...``: run one reference calculation by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from phyneo_flows.errors import EngineError, InputError
from phyneo_flows.qm.properties_cli import properties

app = typer.Typer(help="Reference quantum chemistry: SAPT of dimers (psi4), monomer properties (PySCF).",
                  no_args_is_help=True)
app.command("properties")(properties)


@app.callback()
def _qm() -> None:
    """Reference quantum chemistry: run one calculation by hand."""


def _pair(text: str, field: str) -> tuple[int, int]:
    parts = [p.strip() for p in text.split(",")]
    try:
        a, b = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"expected two integers 'A,B', got {text!r}", field=field, fix="e.g. --charges 1,-1") from None
    return a, b


@app.command("sapt")
def sapt_cmd(
    dimer: Annotated[Path, typer.Argument(help="xyz file of the dimer (Angstrom)")],
    split: Annotated[int, typer.Option("--split", help="number of atoms of monomer A (the first atoms)")],
    charges: Annotated[str, typer.Option("--charges", help="charges of A and B, e.g. 1,-1")] = "0,0",
    multiplicities: Annotated[str, typer.Option("--multiplicities", help="2S+1 of A and B")] = "1,1",
    method: Annotated[str | None, typer.Option("--method", help="sapt0 or sapt(dft) (default: settings)")] = None,
    basis: Annotated[str | None, typer.Option("--basis", help="psi4 basis (default: settings)")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="psi4 option KEY=VALUE (repeatable)")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="psi4 threads (default: settings)")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="read/write the result cache in the store")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """SAPT components of DIMER in kJ/mol (psi4; psi4's induction includes delta-HF, also shown alone)."""
    from phyneo_flows.qm.models import Dimer
    from phyneo_flows.qm.psi4 import Psi4Harness, SaptInput, parse_option
    from phyneo_flows.settings import get_settings

    settings = get_settings()
    sapt_input = SaptInput(
        dimer=Dimer.from_xyz(dimer, split=split, charges=_pair(charges, "--charges"),
                             multiplicities=_pair(multiplicities, "--multiplicities")),
        method=method or settings.sapt_method, basis=basis or settings.sapt_basis,
        options=dict(parse_option(o) for o in option or []))
    harness = Psi4Harness.from_settings(settings)
    if threads:
        harness.threads = threads
    harness.validate(sapt_input)
    if cache:
        from phyneo_flows.qm.cache import QMCache, cache_store_of
        from phyneo_flows.store import connected, get_store

        result = QMCache(cache_store_of(connected(get_store(settings)))).compute_cached(harness, sapt_input)
    else:
        result = harness.compute(sapt_input)
    if not hasattr(result, "components"):
        raise EngineError(f"psi4 failed: {result.message}", field="dimer",
                          fix=f"see the kept scratch folder {result.scratch_dir}; try --option maxiter=300")
    if as_json:
        doc = {"units": "kJ/mol", "components": result.components, "engine": result.engine,
               "version": result.version, "method": result.method, "basis": result.basis,
               "grac_shift_a": result.grac_shift_a, "grac_shift_b": result.grac_shift_b,
               "attempts": result.attempts, "input_hash": result.input_hash, "wall_time_s": result.wall_time_s}
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"{result.method.upper()}/{result.basis} (psi4 {result.version}), kJ/mol")
    for name, value in result.components.items():
        typer.echo(f"  {name:<15s} {value:14.6f}")
