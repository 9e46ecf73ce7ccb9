"""Cleaning specs: the YAML file (validated by pydantic at the edge) and the frozen records
the cleaning steps use.

A spec lives beside its source spec: ``$HARVEST_HOME/sources/<source>.clean.yaml`` for the
user's sources, ``scrapers/sources/<source>.clean.yaml`` for the bundled ones (the user's
file wins). Without one, a spec is inferred from the raw data (:mod:`catalog.cleaning.infer`).
Every key is documented in docs/cleaning.md. A spec's hash (of its effective content, after
unlisted columns are inferred) names the producer of the clean versions it makes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog.cleaning.parsers import DATE_LANGUAGES
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace

COLUMN_TYPES = ("text", "category", "price", "number", "integer", "date", "boolean", "url", "keep")
RULE_KINDS = (
    "required",
    "range",
    "allowed",
    "unique",
    "max_null_share",
    "max_row_drop",
    "freshness",
    "min_rows",
)
SPEC_SUFFIX = ".clean.yaml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Scalar = str | int | float | bool


# -- the records the steps use ------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """How one raw column is cleaned."""

    name: str
    type: str = "keep"
    rename: str | None = None
    html: bool = True  # text: strip markup
    language: bool = False  # text: add <name>_lang
    pii: bool = True  # text: replace e-mails, phones, cards
    missing: str = "keep"  # keep | drop | fill
    fill: Scalar | None = None
    currency: str | None = None  # price: the currency when the text has none
    currency_column: str | None = None  # price: a column with each row's currency
    decimal: str | None = None  # number/price: "." or ","; None: from the column
    dayfirst: bool | None = None  # date: 03/04 is 3 April; None: from the column
    timezone: str = "UTC"  # date: the zone of dates written without one
    languages: tuple[str, ...] = DATE_LANGUAGES  # date: what dateparser may read
    base: str | None = None  # url: a base URL or a column of page URLs (default _url)
    outliers: bool = False  # number/price/integer: flag with robust z-scores

    @property
    def output(self) -> str:
        return self.rename or self.name


@dataclass(frozen=True)
class NearDupSpec:
    """Near-duplicate removal on one text column."""

    column: str
    threshold: float = 0.8
    num_perm: int = 128
    shingle: int = 3


@dataclass(frozen=True)
class DedupSpec:
    """Which duplicates are removed."""

    key: bool = True
    content: bool = True
    near: NearDupSpec | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One quality rule; ``error`` blocks the commit, ``warn`` is recorded."""

    kind: str
    severity: str = "error"
    columns: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    values: tuple[Scalar, ...] = ()
    max_age_seconds: float | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or (
            f"{self.kind}({', '.join(self.columns)})" if self.columns else self.kind
        )


@dataclass(frozen=True)
class Listing:
    """Overrides for the clean dataset's listing card (else it follows the raw one)."""

    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanSpec:
    """A whole cleaning spec: ``raw.<source>`` into ``clean.<output>``."""

    source: str
    output: str = ""
    key: tuple[str, ...] | None = None  # None: the raw dataset's key
    freshness: str = "_fetched_at"
    columns: tuple[ColumnSpec, ...] = ()
    keep_unlisted: bool = True
    drop: tuple[str, ...] = ()
    dedup: DedupSpec = DedupSpec()
    outlier_threshold: float = 3.5
    rules: tuple[RuleSpec, ...] = ()
    listing: Listing = Listing()
    origin: str = field(default="", compare=False)  # the file, or "inferred"; not hashed

    @property
    def target(self) -> str:
        return self.output or self.source

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def hash(self) -> str:
        """A short hash of what the spec does (its origin left out)."""
        body = asdict(replace(self, origin=""))
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[
            :12
        ]


# -- the file format (pydantic, at the edge) ------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnFile(_Model):
    type: Literal[
        "text", "category", "price", "number", "integer", "date", "boolean", "url", "keep"
    ] = "keep"
    rename: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    html: bool = True
    language: bool = False
    pii: bool = True
    missing: Literal["keep", "drop", "fill"] = "keep"
    fill: Scalar | None = None
    required: bool = False
    currency: str | None = None
    currency_column: str | None = None
    decimal: Literal[".", ","] | None = None
    dayfirst: bool | None = None
    timezone: str = "UTC"
    languages: list[str] = list(DATE_LANGUAGES)
    base: str | None = None
    outliers: bool = False

    @model_validator(mode="after")
    def _fill_needs_value(self) -> ColumnFile:
        if self.missing == "fill" and self.fill is None:
            raise ValueError("`missing: fill` needs a `fill` value")
        return self


class NearFile(_Model):
    column: str
    threshold: float = Field(default=0.8, gt=0.0, lt=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle: int = Field(default=3, ge=1, le=10)


class DedupFile(_Model):
    key: bool = True
    content: bool = True
    near: NearFile | None = None


class OutliersFile(_Model):
    threshold: float = Field(default=3.5, gt=0.0)


class RuleFile(_Model):
    kind: Literal[
        "required",
        "range",
        "allowed",
        "unique",
        "max_null_share",
        "max_row_drop",
        "freshness",
        "min_rows",
    ]
    severity: Literal["error", "warn"] = "error"
    column: str | None = None
    columns: list[str] = []
    min: float | None = None
    max: float | None = None
    values: list[Scalar] = []
    max_age: str | None = None
    name: str = ""

    @model_validator(mode="after")
    def _kind_needs(self) -> RuleFile:
        has_column = bool(self.column or self.columns)
        needs = {
            "required": has_column,
            "range": has_column and (self.min is not None or self.max is not None),
            "allowed": has_column and bool(self.values),
            "unique": True,
            "max_null_share": has_column and self.max is not None,
            "max_row_drop": self.max is not None,
            "freshness": self.max_age is not None,
            "min_rows": self.min is not None,
        }
        if not needs[self.kind]:
            raise ValueError(f"a {self.kind} rule needs {_RULE_NEEDS[self.kind]}")
        if self.max_age is not None and not _DURATION.match(self.max_age):
            raise ValueError("`max_age` must be a duration such as 90m, 12h, 7d or 2w")
        return self


_RULE_NEEDS = {
    "required": "`column` or `columns`",
    "range": "`column` and `min` and/or `max`",
    "allowed": "`column` and a list of `values`",
    "unique": "nothing more",
    "max_null_share": "`column` and `max` (a share between 0 and 1)",
    "max_row_drop": "`max` (a share between 0 and 1)",
    "freshness": "`max_age` (such as 7d)",
    "min_rows": "`min`",
}


class ListingFile(_Model):
    title: str = ""
    description: str = ""
    tags: list[str] = []


class SpecFile(_Model):
    source: str | None = None
    output: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    key: list[str] | None = None
    freshness: str = "_fetched_at"
    columns: dict[str, ColumnFile] = {}
    keep_unlisted: bool = True
    drop: list[str] = []
    dedup: DedupFile = DedupFile()
    outliers: OutliersFile = OutliersFile()
    rules: list[RuleFile] = []
    listing: ListingFile = ListingFile()


def seconds_of(duration: str) -> float:
    """Seconds in a duration such as ``90m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION.match(duration)
    if not match:
        raise InvalidInputError(f"'{duration}' is not a duration: write it like 90m, 12h or 7d.")
    return float(match[1]) * _SECONDS[match[2]]


def _error_sentence(where: str, error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"The cleaning spec {where} has an unknown key `{location}`: remove it or fix its spelling (docs/cleaning.md lists the keys)."
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"The cleaning spec {where} is invalid at `{location}`: {message}."


def _rule(rule: RuleFile) -> RuleSpec:
    columns = tuple(rule.columns) + ((rule.column,) if rule.column else ())
    return RuleSpec(
        kind=rule.kind,
        severity=rule.severity,
        columns=columns,
        min=rule.min,
        max=rule.max,
        values=tuple(rule.values),
        max_age_seconds=seconds_of(rule.max_age) if rule.max_age else None,
        name=rule.name,
    )


def _column(name: str, column: ColumnFile) -> ColumnSpec:
    values = column.model_dump(exclude={"required"})
    values["languages"] = tuple(column.languages)
    if column.required:
        values["missing"] = "drop"
    return ColumnSpec(name=name, **values)


def parse_spec(data: object, *, source: str, where: str) -> CleanSpec:
    """A spec from parsed YAML; ``where`` names it in error messages."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"The cleaning spec {where} must be a mapping of keys to values.")
    try:
        spec = SpecFile.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(_error_sentence(where, error)) from error
    required = tuple(name for name, c in spec.columns.items() if c.required)
    rules = tuple(_rule(r) for r in spec.rules)
    if required:
        rules = (RuleSpec(kind="required", columns=required, name="required columns"), *rules)
    return CleanSpec(
        source=spec.source or source,
        output=spec.output or "",
        key=tuple(spec.key) if spec.key is not None else None,
        freshness=spec.freshness,
        columns=tuple(_column(name, c) for name, c in spec.columns.items()),
        keep_unlisted=spec.keep_unlisted,
        drop=tuple(spec.drop),
        dedup=DedupSpec(
            key=spec.dedup.key,
            content=spec.dedup.content,
            near=NearDupSpec(**spec.dedup.near.model_dump()) if spec.dedup.near else None,
        ),
        outlier_threshold=spec.outliers.threshold,
        rules=rules,
        listing=Listing(spec.listing.title, spec.listing.description, tuple(spec.listing.tags)),
        origin=where,
    )


def load_spec(path: Path, source: str | None = None) -> CleanSpec:
    """Read and validate a spec file (``<source>.clean.yaml``)."""
    if not path.is_file():
        raise NotFoundError(f"There is no cleaning spec at {path}.")
    name = source or path.name.removesuffix(SPEC_SUFFIX).removesuffix(".yaml").removesuffix(".yml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InvalidInputError(
            f"The cleaning spec {path} is not valid YAML ({str(error).splitlines()[0]}); fix the file."
        ) from error
    bundled = bundled_specs()
    where = (
        f"scrapers/sources/{path.name}" if path.parent.resolve() == bundled.resolve() else str(path)
    )
    return parse_spec(data, source=name, where=where)


def bundled_specs() -> Path:
    """The folder of the bundled source and cleaning specs."""
    return Path(str(resources.files("scrapers"))) / "sources"


def spec_files(workspace: Workspace) -> dict[str, Path]:
    """Every cleaning spec by source name, the user's over the bundled (for orchestration)."""
    found: dict[str, Path] = {}
    for folder in (bundled_specs(), workspace.sources):
        for path in sorted(folder.glob(f"*{SPEC_SUFFIX}")) if folder.is_dir() else ():
            found[path.name.removesuffix(SPEC_SUFFIX)] = path
    return dict(sorted(found.items()))


def find_spec(workspace: Workspace, source: str) -> Path | None:
    """The spec file for ``source``: the user's if there is one, else the bundled one."""
    for folder in (workspace.sources, bundled_specs()):
        path = folder / f"{source}{SPEC_SUFFIX}"
        if path.is_file():
            return path
    return None
