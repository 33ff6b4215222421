"""The ``phyneo`` command line.

Every user-fixable error (``PhyneoError``) prints one line naming the field and the fix, and exits
with code 2 before anything is written to the database.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from phyneo_flows.errors import InputError, PhyneoError

app = typer.Typer(help="PhyNEO hybrid force fields for battery electrolytes, from formulation to properties.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True)
out = Console()

# Stage sub-commands live beside their stage: phyneo qm ..., phyneo ff ..., phyneo analyze ...
_SUBAPPS = {"cluster": "phyneo_flows.cluster.cli", "qm": "phyneo_flows.qm.cli", "ff": "phyneo_flows.ff.cli",
            "analyze": "phyneo_flows.analysis.cli", "fit": "phyneo_flows.fitting.cli", "md": "phyneo_flows.md.cli"}

def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the stage's package itself is not there yet
        return False


for _name, _module in _SUBAPPS.items():
    if _has_module(_module):
        app.add_typer(importlib.import_module(_module).app, name=_name)


def _settings():
    from phyneo_flows.settings import get_settings

    return get_settings()


def _open_store():
    from phyneo_flows.store import connected, get_store

    return connected(get_store(_settings()))


@app.command("build-box")
def build_box_cmd(
    formulation: Annotated[Path, typer.Argument(help="formulation YAML")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PDB file to write")] = Path("box.pdb"),
    atoms: Annotated[int | None, typer.Option("--atoms", help="target number of atoms")] = None,
    molecules: Annotated[int | None, typer.Option("--molecules", help="target number of molecules")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed of conformers and packing")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the box record as JSON")] = False,
) -> None:
    """Pack a box for FORMULATION with packmol and write it as PDB (with CONECT)."""
    from phyneo_flows.chem import build_box
    from phyneo_flows.chem.jobs import box_document
    from phyneo_flows.chem.molecule import DEFAULT_SEED
    from phyneo_flows.formulation import load_formulation

    f = load_formulation(formulation)
    with console.status(f"packing {f.name} with packmol"):
        box = build_box(f, n_atoms=atoms, n_molecules=molecules, seed=DEFAULT_SEED if seed is None else seed,
                        packmol=_settings().packmol)
    box.write_pdb(output)
    doc = box_document(box)
    if as_json:
        out.print_json(json.dumps(doc.model_dump(mode="json", exclude={"pdb", "positions_nm"})))
        return
    _print_box(doc)
    out.print(f"wrote {output}")


def _print_box(doc: Any) -> None:
    table = Table(title=f"{doc.formulation}: {doc.n_atoms} atoms, box {doc.box_length_nm:.3f} nm, "
                        f"{doc.density_g_cm3:.3f} g/cm3")
    for col in ("species", "count", "charge", "atom types"):
        table.add_column(col)
    for s in doc.species:
        table.add_row(s.name, str(s.count), f"{s.charge:+d}", str(len(set(s.atom_types))))
    out.print(table)
    for salt in doc.composition.salts:
        out.print(f"{salt.salt}: {salt.formula_units} formula units, {salt.realised:.3f} {salt.unit} "
                  f"(requested {salt.requested:g} {salt.unit}, {100 * salt.relative_error:+.1f}%)")
    out.print(f"closest atoms of different molecules: {10 * doc.min_intermolecular_distance_nm:.2f} Å")


@app.command()
def run(
    formulation: Annotated[Path, typer.Argument(help="formulation YAML")],
    profile: Annotated[str, typer.Option(help="quick | standard | paper, or a profile YAML")] = "quick",
    force: Annotated[bool, typer.Option(help="rerun stages already in the database")] = False,
    until: Annotated[str | None, typer.Option(
        help="stop after this stage: box | sampling | sapt | fit | md | properties")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the jobs and their resources; run nothing")] = False,
) -> None:
    """Run the workflow for FORMULATION locally, storing every result in the database.

    Finished stages are read from the database, not redone; a run that was killed continues where it
    stopped when the same command is given again."""
    from jobflow import run_locally

    from phyneo_flows.flows import STAGES, PhyneoElectrolyteMaker
    from phyneo_flows.formulation import load_formulation
    from phyneo_flows.profiles import load_profile

    if until not in (None, *STAGES):
        raise InputError(f"unknown stage {until!r}", field="--until", fix=f"use one of {', '.join(STAGES)}")
    f = load_formulation(formulation)
    prof = load_profile(profile)
    if dry_run:
        maker = PhyneoElectrolyteMaker.from_profile(prof)
        flow = maker.make(f, until=until)
        jobs = [j for j, _ in flow.iterflow()]
        out.print(f"{f.name} with profile {prof.name}: {len(jobs)} jobs", highlight=False)
        for j in jobs:
            st = str(j.metadata.get("stage", "-"))
            out.print(f"{st:>10}  {j.name:<40}  {prof.resources_for(st).describe()}", highlight=False, soft_wrap=True)
        return
    settings = _settings()
    maker = PhyneoElectrolyteMaker.from_profile(prof, work_dir=str(settings.data_path / "md"))
    maker.check(f, until=until)
    store = _open_store()
    keys = maker.stage_keys(f, until=until)
    done = {k for k, h in keys.items() if store.query_one({"output.input_hash": h}, properties=["uuid"])}
    if until in (None, "properties") and maker.grows(f) and not growth_finished(store, f.name):
        done.discard("properties")  # a killed run may have stopped inside a later generation: run on
    if done == set(keys) and not force:
        out.print(f"{f.name}: every stage is already in the database ({', '.join(sorted(done))}); "
                  "nothing to run (use --force to redo)")
        return
    flow = maker.make(f, until=until)
    runs = settings.data_path / "runs"
    runs.mkdir(exist_ok=True)
    stages = {j.name: str(j.metadata.get("stage", "-")) for j, _ in flow.iterflow()}
    with (console.status(f"running {flow.name} ({len(flow.jobs)} jobs) on {settings.database_description}") as status,
          warnings.catch_warnings(), _JobProgress(console, status, stages)):
        warnings.simplefilter("ignore", FutureWarning)  # jobflow's own use of a deprecated monty helper
        responses = run_locally(flow, store=store, root_dir=runs, create_folders=True, log=False,
                                raise_immediately=True)
    out.print(f"{f.name}: {len(responses)} job(s) finished; results in {settings.database_description}")


class _JobProgress(logging.Handler):
    """Progress of ``phyneo run``: one line on stderr as each job starts and finishes (clock time, stage, job,
    wall seconds), read from jobflow's own job log records, so a redirected log shows where a long run is."""

    _PATTERN = re.compile(r"^(Starting|Finished) job - (.+) \(([0-9a-f-]+)")

    def __init__(self, console: Console, status: Any, stages: dict[str, str]):
        super().__init__(logging.INFO)
        self.console, self.status, self.stages = console, status, stages
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self._PATTERN.match(record.getMessage())
        if match is None:
            return
        what, name, uuid = match.groups()
        stage = self.stages.get(name, "-")
        clock = time.strftime("%H:%M:%S")
        if what == "Starting":
            self.started[uuid] = time.monotonic()
            self.status.update(f"{stage}: {name}")
            self.console.print(f"{clock}  {stage:>10}  started   {name}", highlight=False, soft_wrap=True)
        else:
            wall = time.monotonic() - self.started.pop(uuid, time.monotonic())
            self.console.print(f"{clock}  {stage:>10}  finished  {name}  ({wall:.0f} s)", highlight=False,
                               soft_wrap=True)

    def __enter__(self) -> _JobProgress:
        self.logger = logging.getLogger("jobflow")
        self.level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


def growth_finished(store, formulation: str) -> bool:
    """Whether the newest generation decision of ``formulation`` stopped the flow's growth (stored stages alone
    do not say so: a run killed inside generation 2 has every stage of generation 1 stored)."""
    last = store.query_one({"output.stage": "generation", "output.formulation": formulation},
                           properties=["output"], sort={"completed_at": -1})
    return last is not None and not last["output"].get("another_generation", True)


def _records(formulation: str | None, job_name: str | None, stage: str | None) -> list[dict]:
    store = _open_store()
    criteria: dict[str, Any] = {}
    if formulation:
        criteria["output.formulation"] = formulation
    if job_name:
        criteria["name"] = job_name
    if stage:
        criteria["output.stage"] = stage
    docs = store.query(criteria, properties=["uuid", "index", "name", "completed_at", "output", "metadata"],
                       load=False, sort={"completed_at": 1})
    # job outputs only (a QM cache kept in the same collection by older versions has no ``output``)
    return [{k: v for k, v in d.items() if k != "_id"} for d in docs if d.get("output") is not None]


def _mentions(output: dict, species: str) -> bool:
    """Whether a stage's output concerns ``species`` (its species list, its pair type or its properties)."""
    names = {s.get("name") for s in output.get("species") or [] if isinstance(s, dict)}
    pt = str(output.get("pair_type") or "")
    props = {p.get("name") for p in output.get("properties") or []}
    return species in names or pt.startswith(species + "-") or pt.endswith("-" + species) or (
        f"diffusion_{species}" in props)


def _property_records(records: list[dict], name: str) -> list[dict]:
    """Flatten stored properties named ``name`` into records with the job they came from."""
    rows = []
    for r in records:
        for p in (r.get("output") or {}).get("properties") or []:
            if p.get("name") == name:
                rows.append({"formulation": r["output"].get("formulation"), "name": name,
                             "value": p.get("value"), "uncertainty": p.get("uncertainty"), "unit": p.get("unit"),
                             "method": p.get("method"), "temperature_k": p.get("temperature_k"),
                             "experiment": p.get("experiment"), "generation": r["output"].get("generation"),
                             "job_id": r.get("uuid")})
    return rows


@app.command()
def query(
    formulation: Annotated[str | None, typer.Option(help="formulation name")] = None,
    job: Annotated[str | None, typer.Option("--job", help="job name")] = None,
    stage: Annotated[str | None, typer.Option(help="stage (box, qm, fit, md, properties, ...)")] = None,
    prop: Annotated[str | None, typer.Option("--property", help="a property: density, viscosity, ...")] = None,
    species: Annotated[str | None, typer.Option(help="only records that concern this species")] = None,
    generation: Annotated[int | None, typer.Option(help="force-field generation")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the records as JSON")] = False,
) -> None:
    """Print what the database holds (large arrays stay in the data store)."""
    records = _records(formulation, job, stage)
    if generation is not None:
        records = [r for r in records if r["output"].get("generation") == generation]
    if species:
        records = [r for r in records if _mentions(r["output"], species)]
    if prop:
        rows = _property_records(records, prop)
        if as_json:
            sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
            return
        table = Table(title=f"{prop}: {len(rows)} record(s)")
        for col in ("formulation", "value", "unit", "method", "experiment"):
            table.add_column(col)
        for row in rows:
            exp = row["experiment"]
            unc = f" ± {row['uncertainty']:.3g}" if row["uncertainty"] is not None else ""
            table.add_row(str(row["formulation"]), f"{row['value']:.4g}{unc}", str(row["unit"]), str(row["method"]),
                          f"{exp['value']} {exp['unit']} ({exp['source']})" if exp else "-")
        out.print(table)
        return
    if as_json:
        sys.stdout.write(json.dumps(records, default=str, indent=1) + "\n")
        return
    table = Table(title=f"{len(records)} record(s)")
    for col in ("formulation", "stage", "job", "completed", "uuid"):
        table.add_column(col)
    for r in records:
        o = r.get("output") or {}
        table.add_row(str(o.get("formulation")), str(o.get("stage")), r.get("name", ""),
                      str(r.get("completed_at", ""))[:19], r.get("uuid", ""))
    out.print(table)


@app.command()
def status() -> None:
    """Each formulation's stages and their state."""
    records = _records(None, None, None)
    settings = _settings()
    out.print(f"database: {settings.database_description}")
    if not records:
        out.print("no workflows yet: try `phyneo run workflows/dmc.yaml`")
        return
    by_formulation: dict[str, list[dict]] = {}
    for r in records:
        by_formulation.setdefault(str((r.get("output") or {}).get("formulation")), []).append(r)
    table = Table()
    for col in ("formulation", "stage", "state", "completed"):
        table.add_column(col)
    for name, recs in sorted(by_formulation.items()):
        for r in recs:
            completed = str(r.get("completed_at", ""))[:19]
            state = "reused" if r["output"].get("reused_from") else "completed"
            table.add_row(name, str(r["output"].get("stage")), state, completed)
    out.print(table)


@app.command()
def report(
    formulation: Annotated[str, typer.Argument(help="formulation name (or its YAML file)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="directory for the HTML and Markdown")] = Path(
        "reports"),
) -> None:
    """Write an HTML (and Markdown) report of FORMULATION from the database."""
    from phyneo_flows.report import collect, write_report

    name = formulation
    if formulation.endswith((".yaml", ".yml")):
        from phyneo_flows.formulation import load_formulation

        name = load_formulation(formulation).name
    page, md = write_report(collect(_open_store(), name), output)
    out.print(f"wrote {page} and {md}")


if _has_module("phyneo_flows.cluster.cli"):
    app.command("submit")(importlib.import_module("phyneo_flows.cluster.cli").submit)


def main() -> None:
    """Entry point: user errors become one line and exit code 2."""
    try:
        app()
    except PhyneoError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
