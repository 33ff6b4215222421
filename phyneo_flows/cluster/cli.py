"""``phyneo submit`` (the plain function :func:`submit`, registered by the main CLI), ``phyneo cluster``.

The MongoDB URI is only ever printed redacted (``mongodb://user:***@host``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from phyneo_flows.cluster.config import ClusterConfig, load_cluster_config, validate_config
from phyneo_flows.cluster.plan import formulation_flow, plan

app = typer.Typer(help="Cluster helpers: the queue launcher, a smoke test.", no_args_is_help=True)

Route = Literal["fireworks", "jobflow-remote"]


def _config(path: Path | None, to: str | None, workers: int | None) -> ClusterConfig:
    config = load_cluster_config(path)
    update = {}
    if to:
        update["route"] = to
    if workers is not None:
        update["workers"] = workers
    if update:  # validate again: e.g. several workers on a mongomock LaunchPad are refused
        config = validate_config({**config.model_dump(), **update}, "--workers/--to")
    return config


def _settings():
    from phyneo_flows.settings import get_settings

    return get_settings()


def print_plan(flow, config: ClusterConfig) -> None:
    """Every job of ``flow`` with its stage and Slurm resources (plain lines, no truncation)."""
    where = f"partition {config.partition}" if config.partition else "the default partition"
    typer.echo(
        f"{flow.name}: {len(flow.jobs)} job(s) via {config.route} on {config.scheduler} ({where}), "
        f"up to {config.workers} at once; database {config.database_description(_settings())}"
    )
    for p in plan(flow, config):
        typer.echo(f"  {p.name}  [stage {p.stage}]  {p.resources.describe()}")


def submit_flow(flow, config: ClusterConfig, wait: bool = False, timeout: float = 3600) -> dict:
    """Submit a jobflow ``flow`` through the config's route; with ``wait``, run it to the end.

    Returns ``{job uuid or firework id: state}`` when waiting, else the ids that were queued.
    """
    settings = _settings()
    if config.route == "fireworks":
        from phyneo_flows.cluster import fireworks_route as fr

        fw_ids = fr.add_flow(flow, config, settings)
        typer.echo(
            f"added {len(fw_ids)} firework(s) {fw_ids} to the LaunchPad "
            f"({config.launchpad.database} on {config.database_description(settings)})"
        )
        if not wait:
            typer.echo("start the queue launcher where sbatch works: phyneo cluster worker --config FILE")
            return {i: "READY" for i in fw_ids}
        states = fr.run_queue(config, settings, fw_ids, timeout_s=timeout, log=typer.echo)
    else:
        from phyneo_flows.cluster import jobflow_remote_route as jr

        db_ids = jr.add_flow(flow, config, settings)
        typer.echo(f"queued {len(db_ids)} job(s) in jobflow-remote project {config.project!r}")
        if not wait:
            typer.echo(
                f"start the runner: phyneo cluster runner --config FILE (or jf -p {config.project} "
                "runner start with JFREMOTE_PROJECTS_FOLDER set as docs/cluster.md says)"
            )
            return {i: "WAITING" for i in db_ids}
        states = jr.run_until_done(config, settings, flow, timeout_s=timeout, log=typer.echo)
    bad = {k: v for k, v in states.items() if v != "COMPLETED"}
    typer.echo(
        f"{len(states) - len(bad)}/{len(states)} job(s) completed"
        + (f"; not completed: {bad}" if bad else "")
    )
    return states


def submit(
    formulation: Annotated[Path, typer.Argument(help="formulation YAML")],
    to: Annotated[str, typer.Option("--to", help="fireworks | jobflow-remote")] = "fireworks",
    config: Annotated[
        Path | None, typer.Option("--config", help="cluster config YAML (docs/cluster.md)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print every job and its resources; submit nothing")
    ] = False,
    profile: Annotated[str, typer.Option(help="quick | standard | paper, or a profile YAML")] = "quick",
    workers: Annotated[
        int | None, typer.Option(help="Slurm jobs in flight at once (overrides the config)")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="run the queue launcher/runner here until the flow ends")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait with --wait")] = 24 * 3600,
    until: Annotated[str | None, typer.Option(help="stop after this stage: box | sampling | sapt")] = None,
) -> None:
    """Submit the workflow of FORMULATION to a cluster through FireWorks or jobflow-remote."""
    from phyneo_flows.errors import InputError

    if to not in ("fireworks", "jobflow-remote"):
        raise InputError(
            f"unknown route {to!r}", field="--to", fix="use --to fireworks or --to jobflow-remote"
        )
    cfg = _config(config, to, workers)
    flow = formulation_flow(formulation, profile, until)
    if dry_run:
        print_plan(flow, cfg)
        return
    states = submit_flow(flow, cfg, wait=wait, timeout=timeout)
    if wait and any(v != "COMPLETED" for v in states.values()):
        raise typer.Exit(1)


@app.command()
def worker(
    config: Annotated[Path | None, typer.Option("--config", help="cluster config YAML")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Slurm jobs in flight at once (overrides the config)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="stop after this many seconds")] = 24 * 3600,
) -> None:
    """FireWorks' queue launcher: sbatch one Slurm job per READY firework until every firework is done."""
    from phyneo_flows.cluster import fireworks_route as fr

    cfg = _config(config, "fireworks", workers)
    states = fr.run_queue(cfg, _settings(), None, timeout_s=timeout, log=typer.echo)
    typer.echo(f"{sum(s == 'COMPLETED' for s in states.values())}/{len(states)} firework(s) completed")


@app.command()
def check(
    to: Annotated[str, typer.Option("--to", help="fireworks | jobflow-remote")] = "fireworks",
    config: Annotated[Path | None, typer.Option("--config", help="cluster config YAML")] = None,
    branches: Annotated[int, typer.Option(help="parallel middle jobs of the smoke flow")] = 2,
    timeout: Annotated[float, typer.Option(help="seconds to wait")] = 600,
) -> None:
    """Run a small smoke flow (seed -> N x scale -> total) through a route and wait for it."""
    from phyneo_flows.cluster.smallflow import small_flow

    cfg = _config(config, to, None)
    flow = small_flow("smoke", branches)
    states = submit_flow(flow, cfg, wait=True, timeout=timeout)
    if any(v != "COMPLETED" for v in states.values()):
        raise typer.Exit(1)
