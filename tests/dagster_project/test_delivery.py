"""The delivery sensor and job: a run is asked for when a version lands for an active
subscription (once per landing), and the job delivers it."""

from __future__ import annotations

from pathlib import Path

from dagster import RunRequest, SkipReason, build_sensor_context

from catalog import Catalog
from catalog.subscriptions import Subscription, Subscriptions
from dagster_project.delivery import build_delivery_sensor, delivery_job
from dagster_project.resources import CatalogResource
from tests.delivery.conftest import products


def test_the_sensor_asks_for_a_run_when_a_version_lands_and_the_job_delivers(
    catalog: Catalog, tmp_path: Path
) -> None:
    sensor = build_delivery_sensor(catalog.workspace)
    catalog.commit("raw.shop", products(1), producer="test", key=["id"])
    assert isinstance(sensor(build_sensor_context()), SkipReason)  # nobody subscribes
    Subscriptions(catalog).add(Subscription("drop", "raw.shop", str(tmp_path)))
    context = build_sensor_context()
    first = sensor(context)
    assert isinstance(first, RunRequest)
    assert isinstance(sensor(build_sensor_context(cursor=context.cursor)), SkipReason)
    catalog.commit("raw.shop", products(2), producer="test")
    assert isinstance(sensor(build_sensor_context(cursor=context.cursor)), RunRequest)
    result = delivery_job.execute_in_process(
        resources={"catalog": CatalogResource(home=str(catalog.workspace.home))}
    )
    assert result.success
    assert [(d.version, d.status) for d in sorted(Subscriptions(catalog).deliveries(), key=lambda d: d.version)] == [
        (1, "delivered"), (2, "delivered"),
    ]  # fmt: skip
    assert (tmp_path / "raw.shop/v2/_manifest.json").is_file()
