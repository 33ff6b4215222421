"""Cluster test helpers: where a password could leak, and the ``phyneo`` command in another process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

PASSWORD = "Zq7-pw;$(touch pwned)x"  # distinctive, and a shell would choke on it
USER = "phyneo"


def password_forms() -> list[str]:
    """The password as it could leak: raw and URL-encoded."""
    return [PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)]


def assert_no_password(text: str, where: str) -> None:
    for form in password_forms():
        assert form not in text, f"the MongoDB password appears in {where}"


def database_dump(uri: str, databases: list[str]) -> str:
    """Every document of every collection of ``databases`` as JSON text (to grep for secrets)."""
    import pymongo
    from bson import json_util

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    parts = []
    for db in databases:
        for coll in client[db].list_collection_names():
            parts.append(json_util.dumps(list(client[db][coll].find())))
    client.close()
    return "\n".join(parts)


def files_text(folder: Path) -> str:
    """The text of every file under ``folder`` (binary files decoded loosely)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def phyneo(
    *args: str, env: dict, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the ``phyneo`` command line in another process."""
    exe = Path(sys.executable).parent / "phyneo"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
