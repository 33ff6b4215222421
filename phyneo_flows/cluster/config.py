"""The cluster config: a small YAML file naming the route, the scheduler, the queue, per-stage resources and
the MongoDB database.

```yaml
route: fireworks            # or jobflow-remote
scheduler: slurm
partition: debug
workers: 4                  # Slurm jobs in flight at once
work_dir: ~/phyneo-runs     # launch folders (must be visible from the compute nodes)
mongo_uri: null             # default: PHYNEO_MONGO_URI (keep passwords in the environment, not here)
resources:
  default: {cpus: 1, memory_mb: 2000, walltime: "02:00:00"}
  qm: {cpus: 32, memory_mb: 64000, walltime: "24:00:00"}
  md: {cpus: 4, gpus: 1}
  training: {cpus: 4, gpus: 1}
```

Every value that ends up in a Slurm script is validated here against a strict pattern, so nothing a user
writes in this file can become a shell command or an extra ``#SBATCH`` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from phyneo_flows.errors import InputError
from phyneo_flows.settings import Settings, redact_uri

_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")
_GRES = re.compile(r"^[A-Za-z0-9_:.,-]{1,64}$")

# Stages that share one resource class unless the config names the stage itself.
STAGE_CLASSES: dict[str, str] = {
    "monomer": "qm",
    "monomers": "qm",
    "sapt": "qm",
    "dft": "qm",
    "qm": "qm",
    "properties_qm": "qm",
    "md": "md",
    "validation": "md",
    "sampling": "md",
    "properties": "md",
    "training": "training",
    "residual": "training",
    "fit": "training",  # the fit stage trains the residual networks
}


class Resources(BaseModel):
    """What one Slurm job of a stage asks for. ``memory_mb`` in MiB, ``walltime`` as ``[D-]HH:MM:SS``."""

    model_config = ConfigDict(extra="forbid")
    nodes: int = Field(1, ge=1, le=10_000)
    cpus: int = Field(1, ge=1, le=100_000, description="cores per job (one task, cpus-per-task)")
    gpus: int = Field(0, ge=0, le=64, description="GPUs per job (--gres=gpu:N)")
    memory_mb: int | None = Field(None, ge=1, description="memory per job in MiB")
    walltime: str | None = Field(None, description="[D-]HH:MM:SS")
    gres: str | None = Field(None, description="extra generic resources, e.g. gpu:a100:1 (overrides gpus)")

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, v: str | None) -> str | None:
        if v is not None and not _WALLTIME.match(v):
            raise InputError(
                f"walltime {v!r} is not [D-]HH:MM:SS",
                field="resources.walltime",
                fix="write e.g. 02:00:00 or 1-12:00:00",
            )
        return v

    @field_validator("gres")
    @classmethod
    def _gres(cls, v: str | None) -> str | None:
        if v is not None and not _GRES.match(v):
            raise InputError(
                f"gres {v!r} has characters Slurm does not use",
                field="resources.gres",
                fix="write e.g. gpu:1 or gpu:a100:2",
            )
        return v

    def slurm_options(self) -> dict[str, str | int]:
        """FireWorks CommonAdapter keys (``ntasks``, ``cpus_per_task``, ``mem``, ``walltime``, ``gres``)."""
        opts: dict[str, str | int] = {"nodes": self.nodes, "ntasks": 1, "cpus_per_task": self.cpus}
        if self.memory_mb is not None:
            opts["mem"] = f"{self.memory_mb}M"
        if self.walltime is not None:
            opts["walltime"] = self.walltime
        if self.gres is not None:
            opts["gres"] = self.gres
        elif self.gpus:
            opts["gres"] = f"gpu:{self.gpus}"
        return opts

    def describe(self) -> str:
        parts = [f"{self.cpus} cpu" + ("s" if self.cpus > 1 else "")]
        if self.gres or self.gpus:
            parts.append(self.gres or f"{self.gpus} gpu" + ("s" if self.gpus > 1 else ""))
        if self.nodes > 1:
            parts.append(f"{self.nodes} nodes")
        if self.memory_mb is not None:
            parts.append(f"{self.memory_mb} MiB")
        if self.walltime is not None:
            parts.append(self.walltime)
        return ", ".join(parts)


class LaunchPadConfig(BaseModel):
    """Where FireWorks keeps its workflows: a MongoDB database (default) or a file-backed mongomock."""

    model_config = ConfigDict(extra="forbid")
    database: str = "phyneo_fireworks"
    mongomock_file: Path | None = Field(None, description="file-backed mongomock LaunchPad (one worker only)")


class ClusterConfig(BaseModel):
    """How and where ``phyneo submit`` runs a flow."""

    model_config = ConfigDict(extra="forbid")
    route: Literal["fireworks", "jobflow-remote"] = "fireworks"
    scheduler: Literal["slurm"] = "slurm"
    partition: str | None = Field(None, description="Slurm partition (queue); None = the cluster's default")
    account: str | None = None
    qos: str | None = None
    workers: int = Field(1, ge=1, le=10_000, description="at most this many Slurm jobs in flight")
    work_dir: Path = Field(
        Path("~/phyneo-runs"), description="launch folders, visible from the compute nodes"
    )
    python: str | None = Field(None, description="python on the compute nodes (default: this one)")
    pre_run: list[str] = Field(
        default_factory=list, description="shell lines run before each job (module load ...); written as is"
    )
    mongo_uri: SecretStr | None = Field(None, description="default: PHYNEO_MONGO_URI")
    jobstore_database: str | None = Field(None, description="default: the settings' database_name")
    launchpad: LaunchPadConfig = Field(default_factory=LaunchPadConfig)
    queue_database: str = Field("phyneo_jfremote", description="jobflow-remote's queue database")
    project: str = Field("phyneo", description="jobflow-remote project name")
    resources: dict[str, Resources] = Field(default_factory=lambda: {"default": Resources()})

    @field_validator("partition", "account", "qos", "jobstore_database", "queue_database", "project")
    @classmethod
    def _names(cls, v: str | None, info) -> str | None:
        if v is not None and not _NAME.match(v):
            raise InputError(
                f"{v!r} is not a plain name", field=info.field_name, fix="use letters, digits and _.+- only"
            )
        return v

    @field_validator("pre_run")
    @classmethod
    def _one_line_each(cls, v: list[str]) -> list[str]:
        if any("\n" in line or "\r" in line for line in v):
            raise InputError("a pre_run entry spans several lines", field="pre_run",
                             fix="give each shell line as its own list entry")
        return v

    @field_validator("resources")
    @classmethod
    def _stage_names(cls, v: dict[str, Resources]) -> dict[str, Resources]:
        for key in v:
            if not _NAME.match(key):
                raise InputError(
                    f"stage {key!r} is not a plain name",
                    field="resources",
                    fix="name stages with letters, digits and _.+-",
                )
        v.setdefault("default", Resources())
        return v

    @model_validator(mode="after")
    def _one_worker_on_mongomock(self) -> ClusterConfig:
        if self.launchpad.mongomock_file is not None and self.workers > 1:
            raise InputError(
                f"workers: {self.workers} on a file-backed mongomock LaunchPad "
                f"({self.launchpad.mongomock_file}): every FireWorks process rewrites the whole file when "
                "it exits, so two workers overwrite each other's updates (a firework runs twice, new ones "
                "are lost)",
                field="workers",
                fix="use workers: 1, or a MongoDB server (mongo_uri / PHYNEO_MONGO_URI)",
            )
        if self.launchpad.mongomock_file is not None and self.route != "fireworks":
            raise InputError(
                "mongomock_file is a FireWorks LaunchPad option",
                field="launchpad.mongomock_file",
                fix="jobflow-remote needs a MongoDB server for its queue: set mongo_uri",
            )
        return self

    def resources_for(self, stage: str | None) -> Resources:
        """The resources of ``stage``: its own entry, else its class's (qm, md, training), else default."""
        if stage and stage in self.resources:
            return self.resources[stage]
        cls = STAGE_CLASSES.get(stage or "")
        if cls and cls in self.resources:
            return self.resources[cls]
        return self.resources["default"]

    def uri(self, settings: Settings) -> str:
        """The MongoDB URI (secret: never print it, use :meth:`database_description`)."""
        for value in (self.mongo_uri, settings.mongo_uri):
            if value is not None and value.get_secret_value():
                return value.get_secret_value()
        return ""

    def database_description(self, settings: Settings) -> str:
        uri = self.uri(settings)
        return redact_uri(uri) if uri else "no MongoDB URI"

    def work_path(self) -> Path:
        path = self.work_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_cluster_config(path: Path | None) -> ClusterConfig:
    """Read a cluster config YAML (``None``: the defaults: FireWorks, Slurm, one core per job)."""
    if path is None:
        return ClusterConfig()
    if not Path(path).is_file():
        raise InputError(f"no cluster config at {path}", field="--config", fix="give the path of a YAML file")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path} is not valid YAML: {err}", field="--config") from None
    return validate_config(data, str(path))


def validate_config(data: dict, source: str = "cluster config") -> ClusterConfig:
    """A ``ClusterConfig`` from plain data; a bad value raises the ``InputError`` that names it."""
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, InputError):
            raise cause from None
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{source}: {where}: {first['msg']}",
            field=where or "--config",
            fix="see docs/cluster.md for the config keys",
        ) from None
