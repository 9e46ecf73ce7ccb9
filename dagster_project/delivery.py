"""Delivery in the deployment: ``delivery_sensor`` starts ``delivery_job`` when a version or a
champion change lands (or a subscription is added or resumed), and the job delivers every
pending version to its subscribers (:func:`delivery.run.deliver_pending`)."""

from dagster import (
    DefaultSensorStatus,
    Failure,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)

from catalog.store import Catalog
from core.workspace import Workspace
from dagster_project.resources import CatalogResource
from delivery.run import deliver_pending, landed_mark


@op(description="Deliver every pending version to its subscribers.")
def deliver_pending_versions(context: OpExecutionContext, catalog: CatalogResource) -> None:
    done = deliver_pending(catalog.catalog)
    for d in done:
        context.log.info(f"{d.status}: {d.ref} to {d.subscription} ({d.attempts} attempts)")
    failed = [d for d in done if d.status != "delivered"]
    if failed:
        raise Failure(f"{len(failed)} of {len(done)} deliveries failed: {failed[0].last_error}")


@job(description="Deliver new versions to their subscribers.")
def delivery_job() -> None:
    deliver_pending_versions()


def build_delivery_sensor(workspace: Workspace):  # type: ignore[no-untyped-def]
    """The sensor over ``workspace``'s catalog."""

    @sensor(job=delivery_job, minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING)  # fmt: skip
    def delivery_sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        """A run when a version lands that subscribers have not had."""
        with Catalog.open(workspace) as catalog:
            mark = landed_mark(catalog)
        if not mark:
            return SkipReason("No active subscriptions.")
        if mark == context.cursor:
            return SkipReason("Nothing new has landed.")
        context.update_cursor(mark)
        return RunRequest(run_key=mark)

    return delivery_sensor
