"""The quality report stored with every clean version, and its JSON form.

Records are frozen dataclasses; pydantic's ``TypeAdapter`` turns them into JSON for the
catalog and back when a report is read (``harvest quality``, the dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from catalog.cleaning.pii import PiiCounts
from catalog.cleaning.profile import ColumnProfile, TopValue
from catalog.cleaning.rules import RuleResult
from catalog.cleaning.score import Score
from catalog.cleaning.spec import CleanSpec
from catalog.drift import DriftReport
from core.errors import InvalidInputError

MAX_LISTED = 1000


@dataclass(frozen=True)
class ColumnOutcome:
    """What cleaning did to one column."""

    column: str
    output: str
    type: str
    parsed: int = 0  # non-empty values given to a typed parser
    unparseable: int = 0
    examples: tuple[str, ...] = ()  # a few unparseable values, personal data scrubbed
    html_stripped: int = 0
    not_utf8: int = 0
    pii: PiiCounts = field(default_factory=PiiCounts)
    filled: int = 0
    dropped_rows: int = 0
    outliers: int = 0
    languages: tuple[TopValue, ...] = ()
    missing_in_raw: bool = False


@dataclass(frozen=True)
class RemovedRow:
    """A removed duplicate: the row (its key, URL or number), the row kept instead, and for
    near duplicates their estimated similarity."""

    row: str
    kept: str | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class DuplicateReport:
    """Duplicates of one kind (``key``, ``content`` or ``near``) and which rows went."""

    kind: str
    removed: int
    rows: tuple[RemovedRow, ...] = ()
    truncated: bool = False
    detail: str = ""


@dataclass(frozen=True)
class RowCounts:
    """Rows in the raw version, dropped for missing values, in the clean table, and the change
    against the previous clean version."""

    raw: int
    clean: int
    dropped_missing: int = 0
    duplicates: int = 0
    previous: int | None = None
    change: int | None = None
    change_share: float | None = None


@dataclass(frozen=True)
class SchemaChange:
    """A column added, removed or retyped against the previous clean version."""

    column: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Timing:
    step: str
    seconds: float


@dataclass(frozen=True)
class QualityReport:
    """Everything known about one clean version's quality."""

    dataset: str
    source: str
    spec_hash: str
    spec_origin: str
    created_at: str
    rows: RowCounts
    columns: tuple[ColumnOutcome, ...]
    duplicates: tuple[DuplicateReport, ...]
    pii: PiiCounts
    outlier_rows: int
    schema_changes: tuple[SchemaChange, ...]
    profile: tuple[ColumnProfile, ...]
    rules: tuple[RuleResult, ...]
    score: Score
    spec: CleanSpec
    timings: tuple[Timing, ...] = ()
    drift: DriftReport | None = None  # against the previous clean version (catalog/drift.py)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """Failed rules of severity ``error``: these stop the commit."""
        return tuple(r for r in self.rules if r.blocks)

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if not r.passed and r.severity == "warn")


@cache
def _adapter() -> TypeAdapter[QualityReport]:
    return TypeAdapter(QualityReport)


def to_json(report: QualityReport) -> dict[str, Any]:
    """The report as JSON-able data for the catalog."""
    return dict(_adapter().dump_python(report, mode="json"))


def from_json(data: object) -> QualityReport:
    """A stored report read back."""
    try:
        return _adapter().validate_python(data)
    except ValidationError as error:
        raise InvalidInputError(
            "The stored report is not a quality report this version of Harvest can read; "
            "use --json to see it as stored."
        ) from error
