"""The result database: a jobflow ``JobStore``.

Default: embedded and file-backed (maggma ``MontyStore`` on montydb's SQLite storage) under the data
directory, with an additional ``data`` store for large arrays. With ``mongo_uri`` set, the same code uses
``MongoStore`` for documents and ``GridFSStore`` for arrays (both from the URI).
"""

from __future__ import annotations

from jobflow import JobStore
from maggma.stores import GridFSStore, MemoryStore, MongoStore, MontyStore

from phyneo_flows.errors import StoreError
from phyneo_flows.settings import Settings

OUTPUTS = "outputs"
DATA = "data"
QM_CACHE = "qm_cache"  # content-addressed QM results (phyneo_flows.qm.cache), shared by every workflow


def get_store(settings: Settings) -> JobStore:
    """The JobStore that ``settings`` name (not yet connected)."""
    uri = settings.mongo_uri.get_secret_value() if settings.mongo_uri is not None else ""
    if uri:
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise StoreError("mongo_uri must start with mongodb:// or mongodb+srv://", field="mongo_uri",
                             fix="set PHYNEO_MONGO_URI=mongodb://host:27017/phyneo, or unset it")
        docs = MongoStore.from_uri(uri, collection_name=OUTPUTS, database=settings.database_name)
        data = GridFSStore.from_uri(uri, collection_name=DATA, database=settings.database_name)
        cache = MongoStore.from_uri(uri, collection_name=QM_CACHE, database=settings.database_name)
    else:
        db_path = str(settings.data_path / "db")
        docs = MontyStore(OUTPUTS, database_path=db_path, database_name=settings.database_name,
                          storage="sqlite")
        data = MontyStore(DATA, database_path=db_path, database_name=settings.database_name, storage="sqlite")
        cache = MontyStore(QM_CACHE, database_path=db_path, database_name=settings.database_name, storage="sqlite")
    return JobStore(docs, additional_stores={DATA: data, QM_CACHE: cache})


def memory_store() -> JobStore:
    """An in-memory JobStore (tests, dry runs)."""
    return JobStore(MemoryStore(), additional_stores={DATA: MemoryStore(), QM_CACHE: MemoryStore()})


def connected(store: JobStore) -> JobStore:
    """Connect ``store``, turning connection failures into a ``StoreError`` that says what to check."""
    try:
        store.connect()
    except Exception as err:  # pymongo raises many kinds; the user needs one message
        raise StoreError(f"cannot open the result database: {err}", field="mongo_uri",
                         fix="check PHYNEO_MONGO_URI or PHYNEO_DATA_DIR") from err
    return store
