"""What every Harvest asset does the same way: decide whether a version is news, tag runs.

An asset materialises only when the catalog holds a version Dagster has not recorded for
it yet. A scrape whose content equals the latest version (or a clean of an unchanged raw
version) yields no materialisation, so nothing downstream runs in the same run and the
automation conditions see no update: an unchanged scheduled scrape ends the chain there.
A version made outside Dagster (``harvest scrape`` on the command line) is news too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    DagsterError,
    DataVersion,
    Failure,
    OpExecutionContext,
)

from catalog import Version
from core.errors import HarvestError
from dagster_project.metadata import Metadata

DATASET_METADATA = "dataset"
TAG_PREFIX = "harvest/"


def asset_name(text: str) -> str:
    """A Dagster asset name for a dataset or model name (``products-price`` -> ``products_price``)."""
    return re.sub(r"_{2,}", "_", re.sub(r"[^A-Za-z0-9_]", "_", text))


def dataset_asset_key(dataset: str) -> AssetKey:
    """The asset of a catalog dataset: ``clean.products@3`` -> ``clean_products``."""
    stage, name = dataset.split("@", 1)[0].split(".", 1)
    return AssetKey(f"{stage}_{asset_name(name)}")


def recorded_ref(context: AssetExecutionContext, key: AssetKey | None = None) -> str | None:
    """The dataset version (``raw.products@3``) of the asset's latest materialisation."""
    event = context.instance.get_latest_materialization_event(key or context.asset_key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get(DATASET_METADATA) if materialization else None
    return str(value.value) if value is not None else None


def is_news(context: AssetExecutionContext, version: Version | None) -> bool:
    """Whether ``version`` is one this asset has not materialised yet."""
    return version is not None and recorded_ref(context) != version.ref


def data_version(version: Version) -> DataVersion:
    """The Dagster data version of a dataset version: its content hash."""
    return DataVersion(version.content_hash)


def observe_unchanged(context: AssetExecutionContext, reason: str, metadata: Metadata) -> None:
    """Record, without materialising, that this run found nothing new."""
    context.log_event(
        AssetObservation(
            asset_key=context.asset_key,
            description=reason,
            metadata={**metadata, "outcome": reason},
        )
    )


def tag_run(context: AssetExecutionContext | OpExecutionContext, tags: dict[str, str]) -> None:
    """Add ``harvest/...`` tags to the current run (scrape runs, models) for filtering in the UI.

    An asset called directly (a test) has no run to tag.
    """
    try:
        run_id = context.run.run_id
    except DagsterError:
        return
    context.instance.add_run_tags(
        run_id, {TAG_PREFIX + asset_name(key): value[:255] for key, value in tags.items()}
    )


@contextmanager
def as_failure() -> Iterator[None]:
    """A :class:`HarvestError` (bad spec, bad data) fails the step with its one sentence."""
    try:
        yield
    except HarvestError as error:
        raise Failure(description=str(error), allow_retries=False) from error
