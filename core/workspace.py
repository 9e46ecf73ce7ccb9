"""Where a Harvest workspace lives and how its catalog is attached.

A workspace is one folder, ``HARVEST_HOME`` (default ``~/.harvest``, ``--home`` on every
command). Everything else finds its paths here, so scaling out is a change of settings:
point ``HARVEST_CATALOG`` at ``ducklake:postgres:...`` and ``HARVEST_DATA_PATH`` at shared
storage and every machine sees one catalog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path("~/.harvest")
REMOTE_SCHEMES = ("s3://", "s3a://", "http://", "https://", "gs://", "r2://")
# The environment variable of each option of the S3 settings (DuckDB's secret, boto3's client).
S3_SETTINGS = {
    "KEY_ID": "HARVEST_S3_KEY_ID",
    "SECRET": "HARVEST_S3_SECRET",
    "SESSION_TOKEN": "HARVEST_S3_SESSION_TOKEN",
    "REGION": "HARVEST_S3_REGION",
    "ENDPOINT": "HARVEST_S3_ENDPOINT",
    "URL_STYLE": "HARVEST_S3_URL_STYLE",
    "USE_SSL": "HARVEST_S3_USE_SSL",
}


@dataclass(frozen=True)
class Workspace:
    """The folders and attach string of one workspace."""

    home: Path
    catalog_uri: str
    data_path: str

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace at ``home``, else ``$HARVEST_HOME``, else ``~/.harvest``."""
        root = Path(home or os.environ.get("HARVEST_HOME") or DEFAULT_HOME).expanduser().resolve()
        catalog_uri = (
            os.environ.get("HARVEST_CATALOG") or f"ducklake:sqlite:{root / 'catalog.sqlite'}"
        )
        data_path = os.environ.get("HARVEST_DATA_PATH") or f"{root / 'data'}/"
        return cls(home=root, catalog_uri=catalog_uri, data_path=data_path)

    def ensure(self) -> Workspace:
        """Create the workspace folders if they are missing; return self."""
        for folder in (
            self.home,
            self.models,
            self.landing,
            self.cache,
            self.sources,
            self.dagster_home,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.remote:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        return self

    @property
    def remote(self) -> bool:
        """Whether the data path is in object storage (then the workspace's files are too)."""
        return self.data_path.startswith(REMOTE_SCHEMES)

    @property
    def catalog_file(self) -> Path | None:
        """The SQLite catalog database, when the catalog is a local SQLite file."""
        prefix = "ducklake:sqlite:"
        return (
            Path(self.catalog_uri[len(prefix) :]) if self.catalog_uri.startswith(prefix) else None
        )

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def media(self) -> Path:
        return self.home / "media"

    @property
    def sources(self) -> Path:
        return self.home / "sources"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
