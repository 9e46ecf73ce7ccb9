"""Drift: how far one set of rows has moved from another, column by column.

Between two versions of a dataset (:func:`version_drift`), or between a model's training
data and a batch it predicts on (:func:`drift`, given any two table expressions). Each
column's kind comes from the schema (:func:`column_kinds`) and says what is measured:

* ``number`` (numeric, date and timestamp columns): the population stability index over
  the deciles of the reference rows (to 1/4096 of an octave), and the Kolmogorov–Smirnov
  statistic (the largest gap between the two empirical distribution functions: exact, as
  ``scipy.stats.ks_2samp`` computes it, ties included);
* ``category`` (short strings, booleans): PSI over the values, and the Jensen–Shannon
  distance (base 2, so between 0 and 1) between the value frequencies;
* ``text`` (strings averaging 40 characters or more): PSI of the lengths, the relative
  change of the mean length, the Jensen–Shannon distance between the word frequencies,
  and the share of the new rows' words never seen in the reference;
* every column: the missing rate on each side and its change.

PSI counts missing values as a bin of their own; KS and JS compare the values present.
An empty bin on one side counts as a share of :data:`EPSILON`. A column's ``score`` (what
a threshold is compared with) is its PSI; for text the larger of the length PSI and the
vocabulary's JS distance. PSI reads: below 0.1 little change, 0.1–0.25 some, above 0.25
a shift worth a look.

Everything is computed in DuckDB over all rows, no sample, and no column leaves DuckDB:
only a handful of numbers per column come back.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from catalog.engine import CatalogError, first_line
from catalog.profile import NUMERIC_TYPES, quote_ident

if TYPE_CHECKING:
    from catalog.records import Version
    from catalog.store import Catalog

Kind = Literal["number", "category", "text"]
KINDS: tuple[Kind, ...] = ("number", "category", "text")
DEFAULT_THRESHOLD = 0.2
EPSILON = 1e-4
QUANTILES = tuple(round(0.1 * i, 1) for i in range(1, 10))  # decile edges: ten bins
MANTISSA_BITS = 12  # a number's histogram bucket spans 1/4096 of an octave (see _bucket)
_HUGE = 1 << 50  # the bucket of infinite (and NaN) values, beyond every finite one's
TEXT_MIN_MEAN_LENGTH = 40  # as training's feature kinds: longer strings are free text
_TIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")
_WORD = r"[\p{L}\p{N}]+"


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column; the statistics its kind does not have are None."""

    column: str
    kind: Kind
    missing_before: float
    missing_after: float
    psi: float | None = None
    ks: float | None = None
    js: float | None = None
    length_psi: float | None = None
    length_change: float | None = None
    vocabulary_js: float | None = None
    unseen_words: float | None = None

    @property
    def missing_change(self) -> float:
        """The change of the missing rate, after minus before (-1 to 1)."""
        return self.missing_after - self.missing_before

    @property
    def score(self) -> float:
        """What a drift threshold is compared with: the PSI (for text, the larger of the
        length PSI and the vocabulary's JS distance)."""
        values = (self.length_psi, self.vocabulary_js) if self.kind == "text" else (self.psi,)
        return max((v for v in values if v is not None), default=0.0)

    def statistics(self) -> dict[str, float]:
        """Each statistic of the column's kind by name, the missing-rate change included."""
        named = {
            "psi": self.psi,
            "ks": self.ks,
            "js": self.js,
            "length_psi": self.length_psi,
            "length_change": self.length_change,
            "vocabulary_js": self.vocabulary_js,
            "unseen_words": self.unseen_words,
        }
        found = {name: value for name, value in named.items() if value is not None}
        return {**found, "missing_change": self.missing_change}

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            **self.statistics(),
            "missing_before": self.missing_before,
            "missing_after": self.missing_after,
            "score": self.score,
        }


@dataclass(frozen=True)
class DriftReport:
    """The drift from ``before`` to ``after``: one entry per column both have.

    ``added`` and ``removed`` name the columns only ``after`` or only ``before`` has.
    """

    before: str
    after: str
    rows_before: int
    rows_after: int
    columns: tuple[ColumnDrift, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnDrift:
        for found in self.columns:
            if found.column == name:
                return found
        raise KeyError(name)

    def worst(self) -> ColumnDrift | None:
        """The column with the highest score, if any."""
        return max(self.columns, key=lambda c: c.score, default=None)

    def over(self, threshold: float) -> tuple[ColumnDrift, ...]:
        """The columns whose score is above ``threshold``, highest first."""
        return tuple(
            sorted(
                (c for c in self.columns if c.score > threshold),
                key=lambda c: c.score,
                reverse=True,
            )
        )

    def summary(self, threshold: float) -> str:
        """One sentence: which columns drift beyond ``threshold``, or that none does."""
        over = self.over(threshold)
        if not over:
            return f"No column of {self.after} drifts from {self.before} beyond {threshold:g}."
        listed = ", ".join(f"{c.column} ({c.score:.2f})" for c in over[:5])
        more = f" and {len(over) - 5} more" if len(over) > 5 else ""
        return (
            f"{self.after} drifts from {self.before} beyond {threshold:g} in "
            f"{len(over)} column{'s' if len(over) > 1 else ''}: {listed}{more}."
        )

    def to_json(self) -> dict[str, object]:
        return {
            "before": self.before,
            "after": self.after,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "columns": {c.column: c.to_json() for c in self.columns},
            "added": list(self.added),
            "removed": list(self.removed),
        }


def report_from_json(data: Mapping[str, Any]) -> DriftReport:
    """A report stored as :meth:`DriftReport.to_json` read back."""
    columns = data.get("columns")
    if not isinstance(columns, Mapping):
        raise CatalogError("The stored drift report has no columns; it cannot be read back.")
    fields = ColumnDrift.__dataclass_fields__
    return DriftReport(
        before=str(data.get("before", "")),
        after=str(data.get("after", "")),
        rows_before=int(data.get("rows_before", 0)),
        rows_after=int(data.get("rows_after", 0)),
        columns=tuple(
            ColumnDrift(
                column=str(name),
                **{k: v for k, v in values.items() if k in fields and k != "column"},
            )
            for name, values in columns.items()
        ),
        added=tuple(data.get("added") or ()),
        removed=tuple(data.get("removed") or ()),
    )


def _base_type(type_name: str) -> str:
    return type_name.split("(")[0].strip().upper().replace(" WITH TIME ZONE", "TZ")


def column_kinds(
    cursor: duckdb.DuckDBPyConnection, source: str, columns: Sequence[tuple[str, str]]
) -> dict[str, Kind]:
    """Each column's kind from its type in ``columns`` (name, DuckDB type): numbers, dates
    and timestamps are ``number``; strings averaging :data:`TEXT_MIN_MEAN_LENGTH` characters
    or more in ``source`` are ``text`` (one query for all of them); the rest ``category``."""
    kinds: dict[str, Kind] = {}
    strings = []
    for name, type_name in columns:
        base = _base_type(type_name)
        if base in NUMERIC_TYPES or base in _TIME_TYPES:
            kinds[name] = "number"
        elif base == "VARCHAR":
            strings.append(name)
        else:
            kinds[name] = "category"
    if strings:
        selects = ", ".join(f"avg(length({quote_ident(name)}))" for name in strings)
        row = _one(cursor, f"SELECT {selects} FROM {source}", [])
        for name, mean in zip(strings, row, strict=True):
            long = mean is not None and float(mean) >= TEXT_MIN_MEAN_LENGTH
            kinds[name] = "text" if long else "category"
    return kinds


def _one(cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]) -> tuple[Any, ...]:
    try:
        row = cursor.execute(sql, list(params)).fetchone()
    except duckdb.Error as error:
        raise CatalogError(f"Could not measure drift: {first_line(error)}") from error
    if row is None:
        raise CatalogError("Could not measure drift: a query returned no row.")
    return tuple(row)


def _psi(before: Sequence[float], after: Sequence[float]) -> float:
    """PSI of two vectors of shares; an empty bin counts as :data:`EPSILON`."""
    total = 0.0
    for a, b in zip(before, after, strict=True):
        a, b = max(a, EPSILON), max(b, EPSILON)
        total += (b - a) * math.log(b / a)
    return total


@dataclass(frozen=True)
class _Counts:
    """Rows and non-missing values of one column on each side."""

    rows_before: int
    rows_after: int
    present_before: int
    present_after: int

    @property
    def missing_before(self) -> float:
        return 1 - self.present_before / self.rows_before if self.rows_before else 0.0

    @property
    def missing_after(self) -> float:
        return 1 - self.present_after / self.rows_after if self.rows_after else 0.0


def _bucket(x: str) -> str:
    """The histogram bucket of the number ``x``: its sign, binary exponent and first
    :data:`MANTISSA_BITS` bits of mantissa, so each bucket spans 1/4096 of an octave (fine
    for skewed values as for narrow ones). The key only grows with the value, so each bucket
    holds one contiguous run of the sorted values; where rounding puts a value by a power of
    two in the neighbouring octave, its mantissa bits (-1 or 4096) give it the key it would
    have had there. Reads ``m`` (the magnitude) and ``o`` (its octave) of :func:`_numbers_sql`."""
    steps = 1 << MANTISSA_BITS
    magnitude = f"((o + 1100) * {steps} + floor((m / pow(2, o) - 1) * {steps}) + 1)"
    return (
        f"(CASE WHEN NOT isfinite({x}) THEN CASE WHEN {x} < 0 THEN -{_HUGE} ELSE {_HUGE} END "
        f"WHEN {x} > 0 THEN {magnitude} WHEN {x} < 0 THEN -{magnitude} ELSE 0 END)::BIGINT"
    )


def _numbers_sql(expression: str, source: str) -> str:
    """The values ``x`` of ``expression`` present in ``source``, their magnitude and octave."""
    return (
        "SELECT x, abs(x) AS m, "
        "CASE WHEN x <> 0 AND isfinite(x) THEN floor(log2(abs(x))) END AS o "
        f"FROM (SELECT {expression} AS x FROM {source}) WHERE x IS NOT NULL"
    )


def _histogram_sql(expression: str, before: str, after: str) -> str:
    """Each side's count per bucket, and whether a bucket holds one value only (a hash
    aggregate, no sort)."""
    sides = [
        f"SELECT {_bucket('x')} AS k, count(*) AS n, min(x) AS lo, max(x) AS hi "
        f"FROM ({_numbers_sql(expression, src)}) GROUP BY k"
        for src in (before, after)
    ]
    return f"""
        WITH ha AS ({sides[0]}), hb AS ({sides[1]})
        SELECT coalesce(ha.k, hb.k) AS k, coalesce(ha.n, 0) AS na, coalesce(hb.n, 0) AS nb,
               coalesce(least(ha.lo, hb.lo) = greatest(ha.hi, hb.hi), false) AS single
        FROM ha FULL JOIN hb ON ha.k = hb.k ORDER BY k
    """


def _exact_sql(expression: str, before: str, after: str) -> str:
    """The largest gap between the two distribution functions within the given buckets.

    Only the rows of those buckets are sorted (each bucket on its own); each bucket's
    counts of smaller values on both sides come in as parameters.
    """
    sides = [
        f"SELECT x, {_bucket('x')} AS k, {flag} AS ia FROM ({_numbers_sql(expression, src)})"
        for src, flag in ((before, 1), (after, 0))
    ]
    return f"""
        WITH o AS (SELECT unnest(?::BIGINT[]) AS k, unnest(?::BIGINT[]) AS oa,
                          unnest(?::BIGINT[]) AS ob),
        u AS (SELECT * FROM ({sides[0]}) SEMI JOIN o USING (k)
              UNION ALL SELECT * FROM ({sides[1]}) SEMI JOIN o USING (k)),
        c AS (
            SELECT k, sum(ia) OVER w AS ca, sum(1 - ia) OVER w AS cb FROM u
            WINDOW w AS (PARTITION BY k ORDER BY x RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
        SELECT max(abs((ca + oa) / ?::DOUBLE - (cb + ob) / ?::DOUBLE)) FROM c JOIN o USING (k)
    """


def _number_stats(
    cursor: duckdb.DuckDBPyConnection, expression: str, before: str, after: str, counts: _Counts
) -> tuple[float | None, float | None]:
    """(PSI, KS) of a numeric expression; None where a side has no values.

    A histogram of both sides (see :func:`_bucket`) gives both distribution functions at
    every bucket's end (its highest value), so a lower bound of KS, and for each bucket a
    bound of the largest gap inside it: there one side may gain all its rows before the
    other gains any, and a bucket of one value has no inside. Only the rows of the buckets
    that could hold a larger gap are sorted and compared, so KS is exact. The PSI bins end
    at the buckets where the reference's distribution function reaches its deciles.
    """
    n_a, n_b = counts.present_before, counts.present_after
    if not n_a or not n_b:
        return None, None
    try:
        found = cursor.execute(_histogram_sql(expression, before, after)).fetchnumpy()
    except duckdb.Error as error:
        raise CatalogError(f"Could not measure drift: {first_line(error)}") from error
    in_a, in_b = (np.asarray(found[side], dtype=np.int64) for side in ("na", "nb"))
    ends_a, ends_b = np.cumsum(in_a), np.cumsum(in_b)
    starts_a, starts_b = ends_a - in_a, ends_b - in_b
    ks = float(np.max(np.abs(ends_a / n_a - ends_b / n_b)))
    bound = np.maximum(ends_a / n_a - starts_b / n_b, ends_b / n_b - starts_a / n_a)
    open_ = np.flatnonzero((bound > ks) & ~np.asarray(found["single"], dtype=bool))
    if len(open_):
        keys = np.asarray(found["k"], dtype=np.int64)[open_]
        params = [keys.tolist(), starts_a[open_].tolist(), starts_b[open_].tolist(), n_a, n_b]
        inside = _one(cursor, _exact_sql(expression, before, after), params)[0]
        ks = max(ks, float(inside or 0.0))
    cuts = np.searchsorted(ends_a, np.array(QUANTILES) * n_a, side="left")
    below_a = [0, *ends_a[cuts].tolist(), n_a]
    below_b = [0, *ends_b[cuts].tolist(), n_b]
    shares_a = [(hi - lo) / counts.rows_before for lo, hi in itertools.pairwise(below_a)]
    shares_b = [(hi - lo) / counts.rows_after for lo, hi in itertools.pairwise(below_b)]
    psi = _psi([*shares_a, counts.missing_before], [*shares_b, counts.missing_after])
    return psi, ks


def _distribution_sql(values_before: str, values_after: str) -> str:
    """PSI (missing values a bin of their own), JS distance (base 2, values present) and the
    share of ``after``'s present values unseen in ``before``, of two queries yielding ``v``."""
    eps = f"{EPSILON}::DOUBLE"
    return f"""
        WITH fa AS (SELECT v, count(*)::DOUBLE AS n FROM ({values_before}) GROUP BY v),
        fb AS (SELECT v, count(*)::DOUBLE AS n FROM ({values_after}) GROUP BY v),
        j AS (
            SELECT coalesce(fa.v, fb.v) IS NULL AS missing,
                   coalesce(fa.n, 0) AS ca, coalesce(fb.n, 0) AS cb
            FROM fa FULL JOIN fb ON fa.v IS NOT DISTINCT FROM fb.v
        ),
        t AS (
            SELECT sum(ca) AS ta, sum(cb) AS tb,
                   sum(ca) FILTER (WHERE NOT missing) AS pa,
                   sum(cb) FILTER (WHERE NOT missing) AS pb
            FROM j
        ),
        s AS (
            SELECT greatest(ca / ta, {eps}) AS sa, greatest(cb / tb, {eps}) AS sb,
                   CASE WHEN missing THEN 0 ELSE ca / pa END AS qa,
                   CASE WHEN missing THEN 0 ELSE cb / pb END AS qb,
                   missing, ca, cb, pb
            FROM j, t
        )
        SELECT sum((sb - sa) * ln(sb / sa)),
               sqrt(greatest(0.5 * sum(CASE WHEN qa > 0 THEN qa * log2(2 * qa / (qa + qb)) ELSE 0 END)
                   + 0.5 * sum(CASE WHEN qb > 0 THEN qb * log2(2 * qb / (qa + qb)) ELSE 0 END), 0)),
               sum(CASE WHEN ca = 0 AND NOT missing THEN cb ELSE 0 END) / any_value(pb)
        FROM s
    """


def _category_stats(
    cursor: duckdb.DuckDBPyConnection, column: str, before: str, after: str, counts: _Counts
) -> tuple[float, float | None]:
    """(PSI, JS distance) of a column's values as text."""
    col = quote_ident(column)
    row = _one(
        cursor,
        _distribution_sql(
            f"SELECT {col}::VARCHAR AS v FROM {before}", f"SELECT {col}::VARCHAR AS v FROM {after}"
        ),
        [],
    )
    present = counts.present_before and counts.present_after
    return float(row[0] or 0.0), float(row[1]) if present and row[1] is not None else None


def _text_stats(
    cursor: duckdb.DuckDBPyConnection, column: str, before: str, after: str, counts: _Counts
) -> dict[str, float | None]:
    """Length PSI, mean length change, vocabulary JS distance and unseen-word share."""
    col = quote_ident(column)
    length_psi, _ = _number_stats(cursor, f"length({col}::VARCHAR)", before, after, counts)
    means = _one(
        cursor,
        f"SELECT (SELECT avg(length({col}::VARCHAR)) FROM {before}), "
        f"(SELECT avg(length({col}::VARCHAR)) FROM {after})",
        [],
    )
    mean_a, mean_b = means
    change = (
        (float(mean_b) - float(mean_a)) / float(mean_a) if mean_a and mean_b is not None else None
    )
    words = "SELECT unnest(regexp_extract_all(lower({col}::VARCHAR), '{word}')) AS v FROM {src}"
    row = _one(
        cursor,
        _distribution_sql(
            words.format(col=col, word=_WORD, src=before),
            words.format(col=col, word=_WORD, src=after),
        ),
        [],
    )
    return {
        "length_psi": length_psi,
        "length_change": change,
        "vocabulary_js": float(row[1]) if row[1] is not None else None,
        "unseen_words": float(row[2]) if row[2] is not None else None,
    }


def _number_expression(column: str, type_name: str) -> str:
    col = quote_ident(column)
    if _base_type(type_name) in _TIME_TYPES:
        return f"epoch(TRY_CAST({col} AS TIMESTAMP))"
    return f"TRY_CAST({col} AS DOUBLE)"


def drift(
    cursor: duckdb.DuckDBPyConnection,
    before: str,
    after: str,
    columns: Sequence[tuple[str, str]],
    *,
    kinds: Mapping[str, Kind] | None = None,
    labels: tuple[str, str] = ("before", "after"),
) -> DriftReport:
    """The drift from the rows of the table expression ``before`` to those of ``after``.

    ``columns`` (name, DuckDB type, as in ``before``) are the columns compared; both sides
    must have them. ``kinds`` overrides :func:`column_kinds`. ``labels`` name the sides.
    """
    if not columns:
        raise CatalogError(f"{labels[0]} and {labels[1]} have no column in common to compare.")
    found = {**column_kinds(cursor, before, columns), **(kinds or {})}
    present = ", ".join(f"count({quote_ident(name)})" for name, _ in columns)
    side_a = _one(cursor, f"SELECT count(*), {present} FROM {before}", [])
    side_b = _one(cursor, f"SELECT count(*), {present} FROM {after}", [])
    results = []
    for index, (name, type_name) in enumerate(columns, start=1):
        counts = _Counts(
            int(side_a[0]),
            int(side_b[0]),
            int(side_a[index]),
            int(side_b[index]),
        )
        results.append(_column_drift(cursor, name, type_name, found[name], before, after, counts))
    return DriftReport(
        before=labels[0],
        after=labels[1],
        rows_before=int(side_a[0]),
        rows_after=int(side_b[0]),
        columns=tuple(results),
    )


def _column_drift(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    type_name: str,
    kind: Kind,
    before: str,
    after: str,
    counts: _Counts,
) -> ColumnDrift:
    missing = {"missing_before": counts.missing_before, "missing_after": counts.missing_after}
    if kind == "number":
        expression = _number_expression(name, type_name)
        psi, ks = _number_stats(cursor, expression, before, after, counts)
        return ColumnDrift(name, kind, psi=psi, ks=ks, **missing)
    if kind == "category":
        psi, js = _category_stats(cursor, name, before, after, counts)
        return ColumnDrift(name, kind, psi=psi, js=js, **missing)
    text = _text_stats(cursor, name, before, after, counts)
    return ColumnDrift(name, kind, counts.missing_before, counts.missing_after, **text)


def shared_columns(
    before: Sequence[tuple[str, str]], after: Sequence[tuple[str, str]], skip: Sequence[str] = ()
) -> tuple[list[tuple[str, str]], tuple[str, ...], tuple[str, ...]]:
    """The columns of ``before`` that ``after`` has too (less ``skip``), then the names only
    ``after`` has and those only ``before`` has."""
    names_a, names_b = {n for n, _ in before}, {n for n, _ in after}
    shared = [(n, t) for n, t in before if n in names_b and n not in skip]
    added = tuple(n for n, _ in after if n not in names_a)
    removed = tuple(n for n, _ in before if n not in names_b)
    return shared, added, removed


def version_drift(
    catalog: Catalog, before: str | Version, after: str | Version, *, after_sql: str | None = None
) -> DriftReport:
    """The drift from version ``before`` to version ``after`` (``name@N``), over the columns
    both have; provenance columns (``_url``, ``_fetched_at``...) and the dataset's key
    columns (identifiers: new rows bring new ones, which is growth, not drift) are left out.

    ``after_sql`` reads the ``after`` rows from another table expression (rows not yet
    committed, say); ``after`` then only names them.
    """
    a = before if not isinstance(before, str) else catalog.version(before)
    b = after if not isinstance(after, str) else catalog.version(after)
    found = catalog.find(b.dataset)
    keys = found.key if found is not None else ()
    after_rows = after_sql or catalog.source_sql(b)
    return _drift_of(catalog, a, a.columns, b.columns, b.ref, after_rows, skip=keys)


def _drift_of(
    catalog: Catalog,
    reference: Version,
    reference_columns: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    label: str,
    after_sql: str,
    cursor: duckdb.DuckDBPyConnection | None = None,
    skip: Sequence[str] = (),
) -> DriftReport:
    provenance = [n for n, _ in reference_columns if n.startswith("_")]
    shared, added, removed = shared_columns(reference_columns, columns, [*provenance, *skip])
    report = drift(
        cursor or catalog.cursor(),
        catalog.source_sql(reference),
        after_sql,
        shared,
        labels=(reference.ref, label),
    )
    return DriftReport(
        before=report.before,
        after=report.after,
        rows_before=report.rows_before,
        rows_after=report.rows_after,
        columns=report.columns,
        added=tuple(n for n in added if not n.startswith("_")),
        removed=tuple(n for n in removed if not n.startswith("_")),
    )


def batch_drift(
    catalog: Catalog,
    reference: str | Version,
    batch_sql: str,
    batch_columns: Sequence[tuple[str, str]],
    *,
    features: Sequence[str] | None = None,
    label: str = "the batch",
    cursor: duckdb.DuckDBPyConnection | None = None,
) -> DriftReport:
    """The drift from the version ``reference`` (a model's training data) to the rows of the
    table expression ``batch_sql``, over ``features`` (default: every shared column).
    ``cursor`` is the catalog cursor ``batch_sql`` can be read on (a registered table's)."""
    version = reference if not isinstance(reference, str) else catalog.version(reference)

    def wanted(columns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(n, t) for n, t in columns if features is None or n in features]

    return _drift_of(
        catalog, version, wanted(version.columns), wanted(batch_columns), label, batch_sql, cursor
    )


def table_drift(
    catalog: Catalog,
    reference: str | Version,
    table: pa.Table,
    *,
    features: Sequence[str] | None = None,
    label: str = "the batch",
) -> DriftReport:
    """:func:`batch_drift` of rows not in the catalog: an Arrow table, read in place by DuckDB."""
    cursor = catalog.cursor()
    name = f"_drift_{uuid.uuid4().hex}"
    cursor.register(name, table)
    try:
        described = cursor.execute(f"DESCRIBE {name}").fetchall()
        columns = [(str(row[0]), str(row[1])) for row in described]
        return batch_drift(
            catalog, reference, name, columns, features=features, label=label, cursor=cursor
        )
    finally:
        cursor.unregister(name)
        cursor.close()
