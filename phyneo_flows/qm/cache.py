"""A content-addressed cache of QM results over any maggma ``Store``.

The key is the sha256 of (engine, version, task, method, basis, charges, multiplicities, geometry
rounded to 1e-5 Angstrom, sorted options): see ``QMInput.input_hash``. A result found under its key is
returned without starting the engine; failures are not cached, so they are retried next time.
"""

from __future__ import annotations

import importlib
from typing import Any

from maggma.core import Store

from phyneo_flows.qm.harness import Harness, QMFailure
from phyneo_flows.qm.models import QMInput, QMResult

KEY_FIELD = "qm_cache_key"
#: name of the JobStore's additional store that holds the cache, when the JobStore has one
CACHE_STORE_NAME = "qm_cache"


def _result_class(path: str) -> type[QMResult]:
    module_name, _, qualname = path.partition(":")
    if not module_name.startswith("phyneo_flows."):
        raise ValueError(f"refusing to load result class {path!r} from outside phyneo_flows")
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, QMResult)):
        raise ValueError(f"{path!r} is not a QMResult")
    return cls


def cache_store_of(job_store: Any) -> Store:
    """The store a cache should use inside a jobflow ``JobStore``: its additional store ``qm_cache`` if it has
    one, else its docs store (cache documents carry ``qm_cache_key`` and no job ``uuid``)."""
    additional = getattr(job_store, "additional_stores", None) or {}
    return additional.get(CACHE_STORE_NAME) or job_store.docs_store


class QMCache:
    """Results of ``QMInput``s stored in a maggma ``Store`` (a MemoryStore in tests, the JobStore's docs
    store in workflows), keyed by content hash."""

    def __init__(self, store: Store):
        self.store = store
        try:
            self.store.count()
        except Exception:  # maggma raises its own StoreError (or others) when not connected
            self.store.connect()

    @staticmethod
    def key(harness: Harness, input: QMInput) -> str:
        """The content hash of ``input`` run by ``harness`` (its name and version included)."""
        return input.input_hash(harness.name, harness.version())

    def get(self, key: str) -> QMResult | None:
        """The stored result under ``key``, or None."""
        doc = self.store.query_one(criteria={KEY_FIELD: key})
        if doc is None:
            return None
        return _result_class(doc["result_class"]).model_validate(doc["result"])

    def put(self, key: str, result: QMResult, input: QMInput | None = None) -> None:
        """Store ``result`` under ``key`` (replacing any earlier one)."""
        cls = type(result)
        doc: dict[str, Any] = {KEY_FIELD: key, "engine": result.engine, "version": result.version,
                               "result_class": f"{cls.__module__}:{cls.__qualname__}",
                               "result": result.model_dump(mode="json")}
        if input is not None:
            doc.update(task=input.task, method=input.method, basis=input.basis)
        self.store.update([doc], key=KEY_FIELD)

    def compute_cached(self, harness: Harness, input: QMInput) -> QMResult | QMFailure:
        """The stored result of ``input`` if there is one; else run ``harness`` and store a success."""
        key = self.key(harness, input)
        cached = self.get(key)
        if cached is not None:
            return cached
        result = harness.compute(input)
        if not isinstance(result, QMFailure):
            self.put(key, result, input)
        return result
