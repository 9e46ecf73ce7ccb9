"""Quality rules checked against a clean table before it is committed.

``required`` (columns present, no nulls), ``range`` (values within min/max), ``allowed``
(values from a list), ``unique`` (no two rows share the key or the named columns),
``max_null_share``, ``max_row_drop`` (against the previous clean version), ``freshness``
(newest ``_fetched_at`` or named time no older than ``max_age``) and ``min_rows``. A
failed ``error`` rule stops the commit; a failed ``warn`` rule is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.spec import RuleSpec
from catalog.profile import quote_ident


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule; ``value`` is the measured figure where there is one."""

    name: str
    kind: str
    severity: str
    passed: bool
    detail: str
    value: float | None = None

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "error"


@dataclass(frozen=True)
class RuleContext:
    """What rules compare against besides the table."""

    key: tuple[str, ...]
    previous_rows: int | None
    freshness: str
    now: datetime


def _missing(table: pa.Table, columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in table.column_names]


def _required(rule: RuleSpec, table: pa.Table, _: RuleContext) -> tuple[bool, str, float | None]:
    absent = _missing(table, rule.columns)
    if absent:
        return False, f"missing column(s): {', '.join(absent)}", None
    nulls = {c: table.column(c).null_count for c in rule.columns}
    bad = {c: n for c, n in nulls.items() if n}
    if bad:
        return (
            False,
            "nulls in " + ", ".join(f"{c} ({n})" for c, n in bad.items()),
            float(sum(bad.values())),
        )
    return True, f"{', '.join(rule.columns)} present in every row", 0.0


def _range(rule: RuleSpec, table: pa.Table, _: RuleContext) -> tuple[bool, str, float | None]:
    absent = _missing(table, rule.columns)
    if absent:
        return False, f"missing column(s): {', '.join(absent)}", None
    outside = 0
    for name in rule.columns:
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            return False, f"{name} is {column.type}, not a number", None
        below = pc.less(column, rule.min) if rule.min is not None else None
        above = pc.greater(column, rule.max) if rule.max is not None else None
        for mask in (below, above):
            if mask is not None:
                outside += int(pc.sum(mask).as_py() or 0)
    bounds = f"[{'' if rule.min is None else f'{rule.min:g}'}, {'' if rule.max is None else f'{rule.max:g}'}]"
    if outside:
        return False, f"{outside} value(s) outside {bounds}", float(outside)
    return True, f"every value within {bounds}", 0.0


def _allowed(rule: RuleSpec, table: pa.Table, _: RuleContext) -> tuple[bool, str, float | None]:
    absent = _missing(table, rule.columns)
    if absent:
        return False, f"missing column(s): {', '.join(absent)}", None
    bad: list[str] = []
    count = 0
    for name in rule.columns:
        column = table.column(name)
        try:
            allowed = pa.array(list(rule.values)).cast(column.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return False, f"the allowed values cannot be compared with {name} ({column.type})", None
        outside = pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=allowed)))
        count += int(pc.sum(outside).as_py() or 0)
        bad += [str(v) for v in pc.unique(pc.filter(column, outside)).to_pylist()[:5]]
    if count:
        return False, f"{count} value(s) not allowed, such as {', '.join(bad[:5])}", float(count)
    return True, "every value allowed", 0.0


def _unique(
    rule: RuleSpec, table: pa.Table, context: RuleContext
) -> tuple[bool, str, float | None]:
    columns = rule.columns or context.key
    if not columns:
        return True, "no key to check", None
    absent = _missing(table, columns)
    if absent:
        return False, f"missing column(s): {', '.join(absent)}", None
    con = duckdb.connect()
    try:
        con.register("checked", table.select(list(columns)))
        names = ", ".join(quote_ident(c) for c in columns)
        found = con.execute(
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM checked GROUP BY {names})"
        ).fetchone()
    finally:
        con.close()
    repeated = int(found[0]) if found else 0
    if repeated:
        return False, f"{repeated} row(s) repeat a value of ({', '.join(columns)})", float(repeated)
    return True, f"({', '.join(columns)}) unique", 0.0


def _max_null_share(
    rule: RuleSpec, table: pa.Table, _: RuleContext
) -> tuple[bool, str, float | None]:
    absent = _missing(table, rule.columns)
    if absent:
        return False, f"missing column(s): {', '.join(absent)}", None
    limit = rule.max if rule.max is not None else 1.0
    worst, worst_name = 0.0, ""
    for name in rule.columns:
        share = table.column(name).null_count / table.num_rows if table.num_rows else 0.0
        if share >= worst:
            worst, worst_name = share, name
    if worst > limit:
        return False, f"{worst_name} is {worst:.1%} null (at most {limit:.1%} allowed)", worst
    return True, f"null share {worst:.1%} within {limit:.1%}", worst


def _max_row_drop(
    rule: RuleSpec, table: pa.Table, context: RuleContext
) -> tuple[bool, str, float | None]:
    if not context.previous_rows:
        return True, "no previous version to compare with", None
    drop = (context.previous_rows - table.num_rows) / context.previous_rows
    limit = rule.max if rule.max is not None else 1.0
    text = f"{context.previous_rows} -> {table.num_rows} rows"
    if drop > limit:
        return False, f"{text}: {drop:.1%} fewer (at most {limit:.1%} allowed)", drop
    return True, f"{text}", drop


def _freshness(
    rule: RuleSpec, table: pa.Table, context: RuleContext
) -> tuple[bool, str, float | None]:
    name = rule.columns[0] if rule.columns else context.freshness
    if name not in table.column_names:
        return False, f"missing column {name}", None
    column = table.column(name)
    if not pa.types.is_timestamp(column.type):
        return False, f"{name} is {column.type}, not a time", None
    newest = pc.max(column).as_py()
    if newest is None:
        return False, f"{name} has no values", None
    age = (context.now - newest).total_seconds()
    limit = rule.max_age_seconds or 0.0
    text = f"newest {name} is {age / 3600:.1f} h old"
    if age > limit:
        return False, f"{text} (at most {limit / 3600:.1f} h allowed)", age
    return True, text, age


def _min_rows(rule: RuleSpec, table: pa.Table, _: RuleContext) -> tuple[bool, str, float | None]:
    least = rule.min or 0
    if table.num_rows < least:
        return False, f"{table.num_rows} row(s), at least {least:g} needed", float(table.num_rows)
    return True, f"{table.num_rows} row(s)", float(table.num_rows)


_CHECKS: dict[str, Callable[[RuleSpec, pa.Table, RuleContext], tuple[bool, str, float | None]]] = {
    "required": _required,
    "range": _range,
    "allowed": _allowed,
    "unique": _unique,
    "max_null_share": _max_null_share,
    "max_row_drop": _max_row_drop,
    "freshness": _freshness,
    "min_rows": _min_rows,
}


def check(rule: RuleSpec, table: pa.Table, context: RuleContext) -> RuleResult:
    """The result of one rule on ``table``."""
    passed, detail, value = _CHECKS[rule.kind](rule, table, context)
    return RuleResult(rule.label, rule.kind, rule.severity, passed, detail, value)


def check_all(
    rules: tuple[RuleSpec, ...], table: pa.Table, context: RuleContext
) -> tuple[RuleResult, ...]:
    """Every rule's result, in spec order."""
    return tuple(check(rule, table, context) for rule in rules)
