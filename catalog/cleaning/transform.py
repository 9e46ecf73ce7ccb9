"""Raw table in, clean table out: typed columns, scrubbed text, missing values handled,
duplicates removed, outliers flagged. Pure: no catalog, no files.

Steps, in order: each column by its type (text is stripped of markup and normalised,
then personal data is replaced, before anything else sees it); missing values per
column (fill, or drop the row); duplicates by key, then by content, then near-duplicate
text, each time keeping the freshest row; outliers flagged in ``_outlier``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.dedup import Deduplicated, dedup_exact, dedup_near
from catalog.cleaning.neardup import NearDupParams
from catalog.cleaning.outliers import flag_outliers
from catalog.cleaning.parsers import (
    parse_booleans,
    parse_dates,
    parse_integers,
    parse_numbers,
    parse_prices,
    parse_urls,
)
from catalog.cleaning.pii import PiiCounts, scrub, scrub_text
from catalog.cleaning.profile import TopValue
from catalog.cleaning.report import MAX_LISTED, ColumnOutcome, DuplicateReport, RemovedRow, Timing
from catalog.cleaning.spec import CleanSpec, ColumnSpec
from catalog.cleaning.text import detect_languages, normalize_text
from catalog.cleaning.values import TEXT, as_text, one_array, typed_input
from core.errors import InvalidInputError

OUTLIER_COLUMN = "_outlier"
_TYPES = {
    "text": TEXT,
    "category": TEXT,
    "price": pa.float64(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "date": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
    "url": TEXT,
    "keep": TEXT,
}


@dataclass(frozen=True)
class Transformed:
    """The clean table and what was done to get it."""

    table: pa.Table
    columns: tuple[ColumnOutcome, ...]
    duplicates: tuple[DuplicateReport, ...]
    dropped_missing: int
    outlier_rows: int
    timings: tuple[Timing, ...]

    @property
    def pii(self) -> PiiCounts:
        total = PiiCounts()
        for column in self.columns:
            total += column.pii
        return total


@dataclass(frozen=True)
class _Column:
    """One cleaned column's output arrays (name -> array) and its outcome."""

    arrays: tuple[tuple[str, pa.Array], ...]
    outcome: ColumnOutcome


def _examples(examples: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(scrub_text(e)[0] for e in examples)


def _base(spec: ColumnSpec, table: pa.Table) -> pa.Array | str | None:
    if spec.base and spec.base in table.column_names:
        return one_array(table.column(spec.base))
    if spec.base:
        return spec.base
    return one_array(table.column("_url")) if "_url" in table.column_names else None


def _text_column(spec: ColumnSpec, raw: pa.Array, outcome: ColumnOutcome) -> _Column:
    normal = normalize_text(raw, strip_markup=spec.html and spec.type == "text")
    values = normal.values
    pii = PiiCounts()
    if spec.pii and spec.type == "text":
        scrubbed = scrub(values)
        values, pii = scrubbed.values, scrubbed.counts
    arrays: list[tuple[str, pa.Array]] = [(spec.output, values)]
    languages: tuple[TopValue, ...] = ()
    if spec.language and spec.type == "text":
        found = detect_languages(values)
        arrays.append((f"{spec.output}_lang", found))
        counts = Counter(v for v in found.to_pylist() if v)
        languages = tuple(TopValue(k, n) for k, n in counts.most_common(5))
    outcome = replace(
        outcome,
        html_stripped=normal.html_stripped,
        not_utf8=normal.not_utf8,
        pii=pii,
        languages=languages,
    )
    return _Column(tuple(arrays), outcome)


def clean_column(spec: ColumnSpec, table: pa.Table) -> _Column:
    """One column cleaned by its type."""
    outcome = ColumnOutcome(column=spec.name, output=spec.output, type=spec.type)
    if spec.name not in table.column_names:
        empty = [(spec.output, pa.nulls(table.num_rows, _TYPES[spec.type]))]
        if spec.type == "price":
            empty.append((f"{spec.output}_currency", pa.nulls(table.num_rows, pa.string())))
        return _Column(tuple(empty), replace(outcome, missing_in_raw=True))
    raw = one_array(table.column(spec.name))
    if spec.type in ("text", "category"):
        return _text_column(spec, raw, outcome)
    if spec.type == "keep":
        kept = (
            as_text(raw)[0] if pa.types.is_null(raw.type) or pa.types.is_binary(raw.type) else raw
        )
        return _Column(((spec.output, kept),), outcome)
    given = int(pc.sum(pc.is_valid(typed_input(as_text(raw)[0]))).as_py() or 0)
    if spec.type == "price":
        default: pa.Array | str | None = spec.currency
        if spec.currency_column and spec.currency_column in table.column_names:
            default = one_array(table.column(spec.currency_column))
        price = parse_prices(raw, default_currency=default, decimal=spec.decimal)
        outcome = replace(
            outcome, parsed=given, unparseable=price.failed, examples=_examples(price.examples)
        )
        arrays = ((spec.output, price.amount), (f"{spec.output}_currency", price.currency))
        return _Column(arrays, outcome)
    if spec.type == "number":
        parsed = parse_numbers(raw, spec.decimal)
    elif spec.type == "integer":
        parsed = parse_integers(raw, spec.decimal)
    elif spec.type == "date":
        parsed = parse_dates(
            raw, dayfirst=spec.dayfirst, timezone=spec.timezone, languages=spec.languages
        )
    elif spec.type == "boolean":
        parsed = parse_booleans(raw)
    else:
        parsed = parse_urls(raw, base=_base(spec, table))
    outcome = replace(
        outcome, parsed=given, unparseable=parsed.failed, examples=_examples(parsed.examples)
    )
    return _Column(((spec.output, parsed.values),), outcome)


def _ordered(spec: CleanSpec, table: pa.Table) -> list[ColumnSpec]:
    """Spec columns in the raw table's order, then those the raw table lacks."""
    position = {name: i for i, name in enumerate(table.column_names)}
    return sorted(spec.columns, key=lambda c: position.get(c.name, len(position)))


def _fill(column: pa.Array, value: object) -> pa.Array:
    return pc.fill_null(column, pa.scalar(value).cast(column.type))


def _apply_missing(
    table: pa.Table, spec: CleanSpec, outcomes: dict[str, ColumnOutcome]
) -> tuple[pa.Table, int]:
    """Fill or drop missing values per column; returns the table and rows dropped."""
    keep = np.ones(table.num_rows, dtype=bool)
    for column in spec.columns:
        if column.output not in table.column_names or column.missing == "keep":
            continue
        values = table.column(column.output)
        if column.missing == "fill":
            filled = _fill(one_array(values), column.fill)
            outcomes[column.output] = replace(outcomes[column.output], filled=values.null_count)
            table = table.set_column(table.column_names.index(column.output), column.output, filled)
        else:
            nulls = pc.is_null(values).to_numpy(zero_copy_only=False)
            outcomes[column.output] = replace(
                outcomes[column.output], dropped_rows=int((nulls & keep).sum())
            )
            keep &= ~nulls
    if keep.all():
        return table, 0
    return table.filter(pa.array(keep)), int((~keep).sum())


def row_names(table: pa.Table, key: tuple[str, ...], rows: np.ndarray) -> list[str]:
    """How a report names rows: by key, else by URL, else by number."""
    if not len(rows):
        return []
    index = pa.array(rows[:MAX_LISTED])
    if key and all(k in table.column_names for k in key):
        parts = [pc.take(table.column(k), index).to_pylist() for k in key]
        return [
            ", ".join(f"{k}={v}" for k, v in zip(key, values, strict=True))
            for values in zip(*parts, strict=True)
        ]
    if "_url" in table.column_names:
        return [str(v) for v in pc.take(table.column("_url"), index).to_pylist()]
    return [f"row {int(r)}" for r in rows[:MAX_LISTED]]


def _duplicate_report(
    kind: str,
    before: pa.Table,
    result: Deduplicated,
    key: tuple[str, ...],
    similarity: np.ndarray | None = None,
    detail: str = "",
) -> DuplicateReport:
    removed = row_names(before, key, result.removed)
    kept = row_names(before, key, result.kept_instead) if kind == "near" else [None] * len(removed)
    rows = tuple(
        RemovedRow(
            row=r,
            kept=k,
            similarity=round(float(similarity[i]), 3) if similarity is not None else None,
        )
        for i, (r, k) in enumerate(zip(removed, kept, strict=True))
    )
    return DuplicateReport(kind, result.count, rows, result.count > MAX_LISTED, detail)


def _content_columns(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if not c.startswith("_") and not c.endswith("_lang")]


def _deduplicate(
    table: pa.Table, spec: CleanSpec, key: tuple[str, ...]
) -> tuple[pa.Table, list[DuplicateReport]]:
    reports: list[DuplicateReport] = []
    if spec.dedup.key and key and all(k in table.column_names for k in key):
        result = dedup_exact(table, key, spec.freshness)
        reports.append(_duplicate_report("key", table, result, key, detail=", ".join(key)))
        table = result.table
    content = _content_columns(table)
    if spec.dedup.content and content:
        result = dedup_exact(table, content, spec.freshness, skip_nulls=False)
        reports.append(_duplicate_report("content", table, result, key))
        table = result.table
    near = spec.dedup.near
    if near and near.column in table.column_names:
        params = NearDupParams(near.threshold, near.num_perm, near.shingle)
        result, similarity = dedup_near(table, near.column, params, spec.freshness)
        bands, rows = params.bands
        detail = f"{near.column}: Jaccard ≥ {near.threshold}, {near.num_perm} permutations, {bands}×{rows} bands"
        reports.append(_duplicate_report("near", table, result, key, similarity, detail))
        table = result.table
    return table, reports


def _flag_outliers(
    table: pa.Table, spec: CleanSpec, outcomes: dict[str, ColumnOutcome]
) -> tuple[pa.Table, int]:
    chosen = [c for c in spec.columns if c.outliers and c.output in table.column_names]
    if not chosen:
        return table, 0
    flagged = np.zeros(table.num_rows, dtype=bool)
    for column in chosen:
        values = table.column(column.output)
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            continue
        flags = flag_outliers(values, spec.outlier_threshold)
        outcomes[column.output] = replace(outcomes[column.output], outliers=int(flags.sum()))
        flagged |= flags
    return table.append_column(OUTLIER_COLUMN, pa.array(flagged)), int(flagged.sum())


def transform(table: pa.Table, spec: CleanSpec) -> Transformed:
    """Clean ``table`` as ``spec`` says (its columns complete: see ``infer.complete_spec``)."""
    clock = time.perf_counter()
    timings: list[Timing] = []

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings.append(Timing(step, round(now - clock, 4)))
        clock = now

    arrays: list[tuple[str, pa.Array]] = []
    outcomes: dict[str, ColumnOutcome] = {}
    for column in _ordered(spec, table):
        cleaned = clean_column(column, table)
        arrays.extend(cleaned.arrays)
        outcomes[column.output] = cleaned.outcome
    names = [name for name, _ in arrays]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInputError(
            f"The cleaning spec makes the column `{repeated[0]}` twice; give one of them "
            "another name with `rename:` or drop one with `drop:`."
        )
    clean = pa.table([a for _, a in arrays], names=names) if arrays else table.select([])
    lap("columns")
    clean, dropped = _apply_missing(clean, spec, outcomes)
    lap("missing")
    renamed = {c.name: c.output for c in spec.columns}
    key = tuple(renamed.get(k, k) for k in (spec.key or ()))
    clean, duplicates = _deduplicate(clean, spec, key)
    lap("duplicates")
    clean, outlier_rows = _flag_outliers(clean, spec, outcomes)
    lap("outliers")
    return Transformed(
        clean,
        tuple(outcomes.values()),
        tuple(duplicates),
        dropped,
        outlier_rows,
        tuple(timings),
    )
