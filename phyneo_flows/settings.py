"""One settings object, read once: ``PHYNEO_*`` environment variables, then a YAML file, then defaults.

The YAML file is ``$PHYNEO_CONFIG`` if set, else ``~/.config/phyneo/config.yaml`` if it exists. Keys
are the field names below (``data_dir: /scratch/phyneo``). Modules never read the environment
themselves: they take a ``Settings`` passed down from the CLI or the flow.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


def _config_file() -> Path | None:
    explicit = os.environ.get("PHYNEO_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    default = Path("~/.config/phyneo/config.yaml").expanduser()
    return default if default.is_file() else None


class Settings(BaseSettings):
    """Where results live, which engines to use and how hard to run them."""

    model_config = SettingsConfigDict(env_prefix="PHYNEO_", extra="ignore")

    data_dir: Path = Field(Path("~/.local/share/phyneo"),
                           description="embedded database, QM scratch and run folders live here")
    database_name: str = "phyneo"
    mongo_uri: SecretStr | None = Field(None, description="mongodb://user:pass@host/db; empty = embedded")
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, description="threads per QM job")
    memory_mb: int = Field(2000, description="memory per QM job")
    packmol: str | None = Field(None, description="packmol executable (default: from PATH)")
    psi4: str | None = Field(None, description="psi4 executable (default: from PATH)")
    keep_scratch: bool = Field(False, description="keep QM scratch folders of successful runs too")
    dft_functional: str = "wb97x-d3bj"
    dft_basis: str = "def2-svp"
    sapt_method: str = "sapt0"
    sapt_basis: str = "jun-cc-pvdz"
    properties_basis: str = "aug-cc-pvdz"
    profile: str = "quick"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path (created on first use)."""
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def database_description(self) -> str:
        """Where the database is, safe to print: a MongoDB URI never shows its password."""
        if self.mongo_uri is not None and self.mongo_uri.get_secret_value():
            return redact_uri(self.mongo_uri.get_secret_value())
        return f"embedded (montydb) at {self.data_path / 'db'}"


def redact_uri(uri: str) -> str:
    """``mongodb://user:secret@host/db`` -> ``mongodb://user:***@host/db``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
