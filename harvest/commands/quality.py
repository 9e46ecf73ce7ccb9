"""``harvest clean SOURCE`` and ``harvest quality NAME[@N]``: cleaning and its quality report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from catalog import Catalog
from catalog.records import DatasetRef
from core.errors import HarvestError, NotFoundError
from harvest import output
from harvest.commands.access import (
    OwnerOption,
    VisibilityOption,
    access_json,
    apply_owner,
    check_owner,
    print_access,
)
from harvest.output import JsonFlag

if TYPE_CHECKING:  # the cleaning package is imported when a command runs: startup stays quick
    from catalog.cleaning import CleanResult, QualityReport
    from catalog.cleaning.profile import ColumnProfile


def register(app: typer.Typer) -> None:
    """Add ``clean`` and ``quality`` to ``app``."""
    app.command("clean")(clean_command)
    app.command("quality")(quality_command)


class QualityGateError(HarvestError):
    """An error-severity rule failed, so no clean version was committed."""


def clean_command(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="The raw dataset to clean: products, or products@3 for a version.")
    ],
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="A cleaning spec file (default: <source>.clean.yaml, else inferred)."
        ),
    ] = None,
    owner: OwnerOption = None,
    visibility: VisibilityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Clean raw.SOURCE into clean.SOURCE with a quality report; exits 1 if an error rule fails."""
    from catalog.cleaning import clean, to_json

    catalog = Catalog.open(ctx.obj)
    check_owner(catalog, owner, visibility)
    if as_json:
        result = clean(catalog, source, spec)
    else:
        with output.console.status(f"Cleaning raw.{source}..."):
            result = clean(catalog, source, spec)
    access = None
    if result.version is not None:
        access = apply_owner(catalog, result.version.dataset, owner, visibility)
    if as_json:
        output.emit_json(
            {
                "committed": result.version.ref if result.version else None,
                "created": result.created,
                "blocked": result.blocked,
                "failed": result.failed,
                "score": result.score,
                "report": to_json(result.report),
                **({"access": access_json(access)} if access else {}),
            }
        )
    else:
        _print_outcome(result)
        print_access(access)
    if result.blocked:
        names = ", ".join(f"{r.name} ({r.detail})" for r in result.failed)
        raise QualityGateError(
            f"Nothing was committed to {result.report.dataset}: {len(result.failed)} error rule(s) "
            f"failed: {names}; fix the data or the spec's rules and run `harvest clean` again."
        )


def _print_outcome(result: CleanResult) -> None:
    report = result.report
    if result.version is None:
        output.console.print(f"Not committed: {report.dataset} from {report.source}", markup=False)
    elif result.created:
        output.console.print(
            f"Committed {result.version.ref} from {report.source} "
            f"(spec {report.spec_hash}, {report.spec_origin})",
            markup=False,
        )
    else:
        output.console.print(
            f"Unchanged, still {result.version.ref} (same content from {report.source})",
            markup=False,
        )
    _print_summary(report)


def _print_summary(report: QualityReport) -> None:
    rows = report.rows
    change = f", {rows.change:+d} vs previous ({rows.previous})" if rows.change is not None else ""
    score = report.score
    lines = [
        f"rows: {rows.raw} raw -> {rows.clean} clean ({rows.duplicates} duplicate(s), "
        f"{rows.dropped_missing} dropped for missing values){change}",
        "duplicates: "
        + (", ".join(f"{d.kind} {d.removed}" for d in report.duplicates) or "not checked"),
        f"personal data replaced: {report.pii.email} e-mail(s), {report.pii.phone} phone(s), "
        f"{report.pii.card} card(s)",
        f"outliers flagged: {report.outlier_rows} row(s)",
        f"quality score: {score.value:.1f} (completeness {score.completeness:.2f}, validity "
        f"{score.validity:.2f}, conformance {score.conformance:.2f}, consistency "
        f"{score.consistency:.2f})",
    ]
    unparsed = [c for c in report.columns if c.unparseable]
    if unparsed:
        lines.append(
            "unparseable (now null): "
            + ", ".join(f"{c.output} {c.unparseable}/{c.parsed}" for c in unparsed)
        )
    changes = [
        f"{c.column} {c.before or '(new)'} -> {c.after or '(gone)'}" for c in report.schema_changes
    ]
    if changes:
        more = f" and {len(changes) - 6} more" if len(changes) > 6 else ""
        lines.append("schema changes vs previous: " + "; ".join(changes[:6]) + more)
    if report.drift is not None:
        from catalog.drift import DEFAULT_THRESHOLD

        lines.append("drift: " + report.drift.summary(DEFAULT_THRESHOLD))
    for line in lines:
        output.console.print(line, markup=False)
    if report.rules:
        output.table(
            ["rule", "severity", "result", "detail"],
            [(r.name, r.severity, "pass" if r.passed else "FAIL", r.detail) for r in report.rules],
            title="Rules",
        )


def _resolve(catalog: Catalog, name: str) -> str:
    """A bare name means the clean dataset when there is one."""
    if "." not in name.split("@")[0]:
        ref = DatasetRef.parse(name, default_stage="clean")
        try:
            catalog.dataset(ref.qualified)
            return str(ref)
        except NotFoundError:
            pass
    return str(catalog.resolve_name(name))


def quality_command(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="A dataset or version: products, clean.products@2, raw.products.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Show the quality report of a version (a profile computed now for versions without one)."""
    from catalog.cleaning import from_json
    from catalog.cleaning.profile import profile_table

    catalog = Catalog.open(ctx.obj)
    version = catalog.version(_resolve(catalog, name))
    stored = catalog.report(version.ref)
    if stored is not None and "profile" in stored and "score" in stored:
        if as_json:
            output.emit_json(stored)
            return
        report = from_json(stored)
        output.console.print(
            f"{version.ref}: cleaned from {report.source} by spec {report.spec_hash} "
            f"({report.spec_origin}) at {report.created_at}",
            markup=False,
        )
        _print_summary(report)
        _print_duplicates(report)
        _print_profile(report.profile)
        return
    profile = profile_table(catalog.read(version))
    if as_json:
        output.emit_json({"dataset": version.ref, "stored": False, "profile": profile})
        return
    output.console.print(
        f"{version.ref} has no stored quality report (only clean versions do); its profile now:",
        markup=False,
    )
    _print_profile(profile)


def _print_duplicates(report: QualityReport) -> None:
    listed = [(d.kind, r) for d in report.duplicates for r in d.rows[:10]]
    if listed:
        output.table(
            ["kind", "removed", "kept instead", "similarity"],
            [
                (kind, r.row, r.kept or "", f"{r.similarity:.2f}" if r.similarity else "")
                for kind, r in listed
            ],
            title="Duplicates removed (first 10 of each kind; --json lists more)",
        )


def _print_profile(profile: tuple[ColumnProfile, ...]) -> None:
    output.table(
        ["column", "type", "nulls", "distinct", "min", "max", "mean", "top values"],
        [
            (
                p.name,
                p.type,
                f"{p.nulls} ({p.null_share:.0%})",
                p.distinct,
                (p.min or "")[:30],
                (p.max or "")[:30],
                f"{p.mean:.4g}" if p.mean is not None else "",
                ", ".join(f"{t.value[:20]} ({t.count})" for t in p.top[:3]),
            )
            for p in profile
        ],
        title="Profile",
    )
