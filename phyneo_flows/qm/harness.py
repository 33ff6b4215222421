"""The engine harness protocol (QCEngine's shape), failures as data, and the harness registry.

A harness says whether its engine is found, its version, and turns a ``QMInput`` into a ``QMResult``
or a ``QMFailure``: an engine that runs and fails is data, not an exception. Input that is wrong is
still an ``InputError``, raised before any engine starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.qm.models import QMInput, QMResult


class QMFailure(BaseModel):
    """A calculation that ran and failed: the engine's own message, and where its scratch files were kept."""

    engine: str
    message: str
    input_hash: str
    scratch_dir: str | None = None
    attempts: int = 1
    error_type: str = "EngineError"


@runtime_checkable
class Harness(Protocol):
    """What every engine harness offers."""

    name: str

    def found(self) -> bool:
        """True when the engine can be started on this machine."""

    def version(self) -> str:
        """The engine's version string."""

    def compute(self, input: QMInput) -> QMResult | QMFailure:
        """Run one calculation; engine failures come back as ``QMFailure``."""


_REGISTRY: dict[str, Callable[..., Harness]] = {}


def register_harness(name: str, factory: Callable[..., Harness]) -> None:
    """Register a harness factory (a class or function) under ``name``."""
    _REGISTRY[name.lower()] = factory


def get_harness(name: str, **kwargs: object) -> Harness:
    """The harness for ``name``; keyword arguments go to its factory.

    A name not yet registered is looked for in the module ``phyneo_flows.qm.<name>``, which registers
    its harness when imported. Raises ``InputError`` for an unknown engine and ``EngineNotFoundError``
    when the engine is not installed.
    """
    key = name.lower()
    if key not in _REGISTRY:
        try:
            importlib.import_module(f"phyneo_flows.qm.{key}")
        except ModuleNotFoundError as exc:
            if exc.name != f"phyneo_flows.qm.{key}":
                raise
    if key not in _REGISTRY:
        raise InputError(f"unknown QM engine {name!r}", field="engine",
                         fix=f"use one of: {', '.join(sorted(_REGISTRY)) or 'psi4'}")
    harness = _REGISTRY[key](**kwargs)
    if not harness.found():
        raise EngineNotFoundError(f"{name} is not installed", field="engine",
                                  fix="install it (see docs/qm.md)")
    return harness


def compute_many(harness: Harness, inputs: Iterable[QMInput], cache: Any | None = None
                 ) -> tuple[list[QMResult], list[QMFailure]]:
    """Run every input (through ``cache.compute_cached`` when a ``QMCache`` is given).

    Returns (results, failures) in input order within each list; one failure does not stop the batch.
    """
    results: list[QMResult] = []
    failures: list[QMFailure] = []
    for item in inputs:
        outcome = cache.compute_cached(harness, item) if cache is not None else harness.compute(item)
        (failures if isinstance(outcome, QMFailure) else results).append(outcome)
    return results, failures
