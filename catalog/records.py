"""The catalog's records: datasets, their listing cards, versions and column statistics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pyarrow as pa

from core.errors import InvalidInputError

STAGES = ("raw", "clean", "imports", "predictions")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_REF = re.compile(
    r"^(?:(?P<stage>[a-z][a-z0-9_]*)\.)?(?P<name>[a-z][a-z0-9_]*)(?:@(?P<version>\d+))?$"
)


@dataclass(frozen=True)
class DatasetRef:
    """``stage.name`` or ``stage.name@N``: a dataset, optionally pinned to version N."""

    stage: str
    name: str
    version: int | None = None

    @property
    def qualified(self) -> str:
        return f"{self.stage}.{self.name}"

    def __str__(self) -> str:
        return self.qualified + (f"@{self.version}" if self.version is not None else "")

    @classmethod
    def parse(cls, text: str, default_stage: str | None = None) -> DatasetRef:
        """Parse ``stage.name[@N]`` (``name[@N]`` when a default stage is given)."""
        match = _REF.match(text.strip().lower())
        stage = match and (match["stage"] or default_stage)
        if not match or not stage:
            raise InvalidInputError(
                f"'{text}' is not a dataset name: write it as stage.name or stage.name@N, "
                f"with stage one of {', '.join(STAGES)} (for example raw.products@2)."
            )
        if stage not in STAGES:
            raise InvalidInputError(f"'{stage}' is not a stage: use one of {', '.join(STAGES)}.")
        validate_name(match["name"])
        version = int(match["version"]) if match["version"] is not None else None
        if version == 0:
            raise InvalidInputError(f"'{text}': versions count from 1.")
        return cls(stage=stage, name=match["name"], version=version)


def validate_name(name: str) -> str:
    """Return ``name`` if it can name a dataset (lower-case letters, digits, underscores)."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"'{name}' cannot name a dataset: use lower-case letters, digits and underscores, "
            "starting with a letter (at most 63 characters)."
        )
    return name


@dataclass(frozen=True)
class Listing:
    """The card people see in the marketplace."""

    title: str = ""
    description: str = ""
    license: str = ""
    tags: tuple[str, ...] = ()
    publisher: str = ""
    source_url: str = ""
    cadence: str = ""


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of one column of one version."""

    name: str
    type: str
    nulls: int
    distinct: int
    min: str | None = None
    max: str | None = None
    mean: float | None = None


@dataclass(frozen=True)
class Version:
    """One immutable commit of a dataset: ``dataset@number``, read from DuckLake snapshot ``snapshot_id``."""

    dataset: str
    number: int
    snapshot_id: int
    rows: int
    columns: tuple[tuple[str, str], ...]
    stats: tuple[ColumnStats, ...]
    content_hash: str
    producer: str
    parents: tuple[str, ...]
    message: str
    created_at: datetime
    quality_score: float | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"


@dataclass(frozen=True)
class Dataset:
    """A dataset: its name, listing, record key and latest version (None before the first commit)."""

    name: str
    listing: Listing
    key: tuple[str, ...] = ()
    volatile: tuple[str, ...] = ()
    created_at: datetime | None = None
    latest: Version | None = None
    version_count: int = 0

    @property
    def stage(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: the version now current, and whether this commit created it."""

    version: Version
    created: bool


@dataclass(frozen=True)
class Diff:
    """Rows added, removed and changed between two versions, matched by the dataset key.

    ``changed`` has the key columns plus ``column``, ``before`` and ``after`` (as text),
    one row per changed value.
    """

    before: str
    after: str
    key: tuple[str, ...]
    added: pa.Table = field(repr=False)
    removed: pa.Table = field(repr=False)
    changed: pa.Table = field(repr=False)


@dataclass(frozen=True)
class DataFile:
    """A file DuckLake reads for a version: its path and size in bytes as DuckLake lists them.

    ``delete_file`` names the file of rows deleted from it, if any, and ``encrypted`` says the
    file is encrypted: either way, reading the data file alone would not give the version's rows.
    """

    path: str
    size: int
    delete_file: str | None = None
    encrypted: bool = False


@dataclass(frozen=True)
class CommittedFile:
    """A data file as the commit that wrote it recorded it: path, size in bytes and checksum."""

    path: str
    size: int
    checksum: str


Integrity = Literal["intact", "altered", "missing", "unverified"]


@dataclass(frozen=True)
class VersionCheck:
    """Whether a version's files are still the ones its commit recorded.

    ``intact``: every file has its recorded size and checksum; ``altered``: a file differs,
    or DuckLake now reads files the commit did not record; ``missing``: a file is gone;
    ``unverified``: the version was committed before checksums were recorded. ``files``
    names the files that differ or are gone.
    """

    ref: str
    status: Integrity
    files: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status in ("altered", "missing")

    @property
    def sentence(self) -> str:
        """What happened to the version and what to do, in one sentence."""
        listed = ", ".join(self.files)
        fix = "restore it from a backup or commit it again."
        if self.status == "altered":
            return f"{self.ref} has been altered since it was committed: its file {listed} differs; {fix}"
        if self.status == "missing":
            return (
                f"{self.ref} is incomplete: its file {listed} is gone since it was committed; {fix}"
            )
        if self.status == "unverified":
            return f"{self.ref} was committed before checksums were recorded, so it cannot be verified."
        return f"{self.ref} is intact."
