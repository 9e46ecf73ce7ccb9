"""Cleaning: one ``clean_<source>`` asset per source, its quality rules as asset checks.

The asset calls ``catalog.cleaning.clean`` on exactly the raw version its upstream asset
recorded. Each rule of the cleaning spec is an asset check; ``error`` rules are blocking,
so when one fails no clean version is committed, the step fails and nothing downstream
runs. A spec inferred from the data (no ``<source>.clean.yaml``) has its rules reported
under one blocking ``quality_rules`` check. New raw versions start cleaning through
``AutomationCondition.eager()``.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from catalog.cleaning import CleanResult, CleanSpec, QualityReport, clean, find_spec, load_spec
from catalog.cleaning.rules import RuleResult
from core.workspace import Workspace
from dagster_project.common import (
    as_failure,
    asset_name,
    data_version,
    is_news,
    observe_unchanged,
    recorded_ref,
)
from dagster_project.metadata import Metadata, version_metadata
from dagster_project.resources import CatalogResource

GROUP = "cleaning"
INFERRED_CHECK = "quality_rules"


@dataclass(frozen=True)
class Cleaning:
    """A source to clean and its spec file's spec (None: inferred from the data at run time)."""

    source: str
    spec: CleanSpec | None

    @property
    def target(self) -> str:
        return self.spec.target if self.spec else self.source

    @property
    def key(self) -> AssetKey:
        return AssetKey(f"clean_{asset_name(self.target)}")

    @property
    def raw_key(self) -> AssetKey:
        return AssetKey(f"raw_{self.source}")


def cleanings_of(workspace: Workspace, sources: Sequence[str]) -> list[Cleaning]:
    """The cleaning of each source: its ``<source>.clean.yaml``, or one inferred at run time."""
    cleanings = []
    for source in sources:
        path = find_spec(workspace, source)
        cleanings.append(Cleaning(source, load_spec(path, source) if path else None))
    return cleanings


def check_names(spec: CleanSpec) -> list[str]:
    """A distinct asset check name per rule, in spec order (``range(price)`` -> ``range_price``)."""
    names: list[str] = []
    for rule in spec.rules:
        name = asset_name(rule.label).strip("_").lower() or rule.kind
        names.append(name if name not in names else f"{name}_{len(names) + 1}")
    return names


def check_specs(cleaning: Cleaning) -> list[AssetCheckSpec]:
    """One check per declared rule (error rules blocking), or one for inferred rules."""
    if cleaning.spec is None:
        return [
            AssetCheckSpec(
                INFERRED_CHECK,
                asset=cleaning.key,
                blocking=True,
                description="The rules of the inferred cleaning spec (not empty, key present and unique).",
            )
        ]
    return [
        AssetCheckSpec(
            name,
            asset=cleaning.key,
            blocking=rule.severity == "error",
            description=f"{rule.kind} rule '{rule.label}' ({rule.severity}).",
        )
        for name, rule in zip(check_names(cleaning.spec), cleaning.spec.rules, strict=True)
    ]


def rule_line(rule: RuleResult) -> str:
    mark = "passed" if rule.passed else ("FAILED" if rule.severity == "error" else "warning")
    return f"{rule.name} ({rule.kind}, {rule.severity}): {mark}, {rule.detail}"


def check_results(cleaning: Cleaning, rules: Sequence[RuleResult]) -> list[AssetCheckResult]:
    """The rule results as check results against the declared checks."""
    if cleaning.spec is None:
        blocked = [r for r in rules if r.blocks]
        return [
            AssetCheckResult(
                check_name=INFERRED_CHECK,
                asset_key=cleaning.key,
                passed=not blocked,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(rule_line(r) for r in (blocked or rules)),
                metadata={"rules": MetadataValue.md(rules_markdown(rules))},
            )
        ]
    return [
        AssetCheckResult(
            check_name=name,
            asset_key=cleaning.key,
            passed=rule.passed,
            severity=AssetCheckSeverity.ERROR
            if rule.severity == "error"
            else AssetCheckSeverity.WARN,
            description=rule.detail,
            metadata={"value": rule.value} if rule.value is not None else {},
        )
        for name, rule in zip(check_names(cleaning.spec), rules, strict=True)
    ]


def rules_markdown(rules: Sequence[RuleResult]) -> str:
    lines = ["| rule | kind | severity | result | detail |", "|---|---|---|---|---|"]
    for rule in rules:
        result = "passed" if rule.passed else "**failed**"
        lines.append(
            f"| {rule.name} | {rule.kind} | {rule.severity} | {result} | {rule.detail.replace('|', '/')} |"
        )
    return "\n".join(lines)


def report_metadata(report: QualityReport) -> Metadata:
    """The quality report in brief: score and its parts, rows, duplicates, PII, rules."""
    rows = report.rows
    score = report.score
    summary = (
        f"**Quality {score.value:.1f}/100**: completeness {score.completeness:.2f}, "
        f"validity {score.validity:.2f}, conformance {score.conformance:.2f}, "
        f"consistency {score.consistency:.2f}.\n\n"
        f"Rows: {rows.raw} raw → {rows.clean} clean ({rows.duplicates} duplicates removed, "
        f"{rows.dropped_missing} dropped for missing values"
        + (f", {rows.change:+d} against the previous version" if rows.change is not None else "")
        + f"). PII replaced: {report.pii.email} e-mails, {report.pii.phone} phones, "
        f"{report.pii.card} cards. Outlier rows flagged: {report.outlier_rows}.\n\n"
        f"Spec {report.spec_hash} ({report.spec_origin or 'given'}).\n\n"
        + rules_markdown(report.rules)
    )
    return {
        "quality_score": MetadataValue.float(float(score.value)),
        "quality_report": MetadataValue.md(summary),
        "raw_version": report.source,
        "duplicates_removed": rows.duplicates,
        "pii_replaced": report.pii.total,
        "rules_failed": len(report.failed),
        "rules_warned": len(report.warnings),
    }


def clean_asset(cleaning: Cleaning) -> AssetsDefinition:
    """The ``clean_<source>`` asset with its rule checks."""

    @asset(
        key=cleaning.key,
        deps=[cleaning.raw_key],
        group_name=GROUP,
        description=(
            f"raw.{cleaning.source} typed, deduplicated and scrubbed into clean.{cleaning.target}, "
            "with a quality report and score; error rules block everything downstream."
        ),
        kinds={"duckdb"},
        tags={"harvest/stage": "clean"},
        check_specs=check_specs(cleaning),
        output_required=False,
        automation_condition=AutomationCondition.eager(),
    )
    def _clean(
        context: AssetExecutionContext, catalog: CatalogResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        raw = recorded_ref(context, cleaning.raw_key) or f"raw.{cleaning.source}"
        with as_failure():
            result: CleanResult = clean(catalog.catalog, raw, cleaning.spec)
        checks = check_results(cleaning, result.report.rules)
        metadata = report_metadata(result.report)
        if result.blocked:
            context.log.error(
                f"clean.{cleaning.target}: {len(result.failed)} error rule(s) failed, so nothing "
                f"was committed: " + "; ".join(rule_line(r) for r in result.failed)
            )
            yield from checks
            return
        if not is_news(context, result.version):
            observe_unchanged(
                context, f"clean.{cleaning.target}: no new version from {raw}", metadata
            )
            yield from checks
            return
        assert result.version is not None
        yield MaterializeResult(
            metadata={**version_metadata(catalog.catalog, result.version), **metadata},
            data_version=data_version(result.version),
            check_results=checks,
        )

    return _clean


def build_cleaning(cleanings: Sequence[Cleaning]) -> list[AssetsDefinition]:
    return [clean_asset(cleaning) for cleaning in cleanings]
