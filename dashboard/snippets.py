"""Text the dashboard generates for people: example queries, copy-paste snippets, lineage graphs."""

from __future__ import annotations

import json
from collections.abc import Sequence

from catalog import Dataset, Version
from catalog.lineage import ancestors, descendants

_NUMERIC = ("INT", "BIGINT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "SMALLINT", "TINYINT", "HUGEINT")


def _ident(name: str) -> str:
    return name if name.isidentifier() and name.islower() else json.dumps(name)


def example_queries(d: Dataset) -> list[tuple[str, str]]:
    """A few ready-to-run queries for one dataset: (label, SQL)."""
    name = d.name
    queries = [
        (f"{name}: first 100 rows", f"SELECT * FROM {name} LIMIT 100"),
        (f"{name}: row count", f"SELECT count(*) AS rows FROM {name}"),
    ]
    columns = list(d.latest.columns) if d.latest else []
    text = [c for c, t in columns if t.upper().startswith("VARCHAR") and not c.startswith("_")]
    numbers = [c for c, t in columns if t.upper().startswith(_NUMERIC) and not c.startswith("_")]
    if text:
        group = _ident(text[0])
        measure = f", round(avg({_ident(numbers[0])}), 2) AS mean_{numbers[0]}" if numbers else ""
        queries.append(
            (
                f"{name}: rows per {text[0]}",
                f"SELECT {group}, count(*) AS rows{measure}\nFROM {name}\nGROUP BY {group}\nORDER BY rows DESC\nLIMIT 20",
            )
        )
    if d.latest and d.latest.number > 1:
        queries.append(
            (
                f"{name}: version 1 against the latest",
                f"SELECT 'v1' AS version, count(*) AS rows FROM {name}@1\nUNION ALL\n"
                f"SELECT 'latest', count(*) FROM {name}",
            )
        )
    return queries


def python_snippet(ref: str) -> str:
    """Code that loads a version in Python."""
    return (
        "from catalog import Catalog\n\n"
        "catalog = Catalog.open()  # the workspace in $HARVEST_HOME (default ~/.harvest)\n"
        f'table = catalog.read("{ref}")  # a pyarrow Table\n'
        "df = table.to_pandas()\n"
    )


def sql_snippet(ref: str) -> str:
    """A query that reads a version, for `harvest sql` or the SQL page."""
    return (
        f'SELECT * FROM {ref} LIMIT 10;\n-- from a shell: harvest sql "SELECT count(*) FROM {ref}"'
    )


def _quote(text: str) -> str:
    return json.dumps(text)


def lineage_dot(
    ref: str, versions: Sequence[Version], models: Sequence[tuple[str, str]] = ()
) -> str:
    """A Graphviz graph from the producers (scrape runs, imports) of ``ref`` to the models trained on it.

    ``models`` are (model version, dataset version it was trained on) pairs.
    """
    chain = ancestors(ref, versions) + descendants(ref, versions)
    refs = {v.ref for v in chain}
    lines = [
        "digraph lineage {",
        "  rankdir=LR; bgcolor=transparent;",
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11, fillcolor="#eef2f7", color="#9aa5b1"];',
        '  edge [color="#7b8794"];',
    ]
    for v in chain:
        style = ', fillcolor="#ffd8a8", penwidth=2' if v.ref == ref else ""
        label = _quote(f"{v.ref}\n{v.rows:,} rows")
        lines.append(f"  {_quote(v.ref)} [label={label}{style}];")
        for parent in v.parents:
            lines.append(f"  {_quote(parent)} -> {_quote(v.ref)};")
        if not v.parents:
            producer = v.producer or "unknown"
            lines.append(f'  {_quote(producer)} [shape=ellipse, fillcolor="#e3f2e1"];')
            lines.append(f"  {_quote(producer)} -> {_quote(v.ref)};")
    for model, data_ref in models:
        if data_ref in refs:
            lines.append(f'  {_quote(model)} [shape=component, fillcolor="#e8e1f5"];')
            lines.append(f"  {_quote(data_ref)} -> {_quote(model)};")
    lines.append("}")
    return "\n".join(lines)
