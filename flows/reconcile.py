"""`reconcile`: the listing against `documents`, every 15 minutes: the safety net of SPEC 11.

It catches what no notification started (SNS gave up, the webhook was down) and runs
that crashed before their row; when anything is pending it emits
`docproc.ingestion.lagging` with the counts, for an automation to alert on. It also
ends the review runs left unanswered too long (SPEC 12).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.events import emit_event
from prefect.states import Completed, Failed

from docproc import events
from docproc import reconcile as core
from flows.backfill import backfill_prefix
from flows.naming import artifact_key, name_run, publish
from tasks import resources
from tasks import review as reviewing


def expire_unanswered_reviews() -> None:
    """Questions left unanswered past DOCPROC_REVIEW_TIMEOUT_HOURS end `Cancelled` (SPEC 12).

    Here because `reconcile` is what runs on a schedule, every 15 minutes: a review
    expires within that much of its deadline. Best effort: the next run tries again.
    """
    hours = resources.settings().review_timeout_hours
    try:
        ended = reviewing.expire_reviews(timedelta(hours=hours))
    except Exception as exc:
        get_run_logger().warning("could not end the reviews left unanswered: %s", exc)
        return
    if ended:
        get_run_logger().info(
            "%d review(s) unanswered for %g h ended Cancelled, nothing changed", len(ended), hours
        )


@flow(name="reconcile")
def reconcile(
    bucket: str | None = None,
    prefix: str = "",
    older_than_seconds: float = 300,
    process: bool = False,
) -> State[dict[str, Any]]:
    """Count the versions under a prefix by outcome and name the pending ones.

    `bucket` defaults to DOCPROC_SOURCE_BUCKET (what the schedule checks). With
    `process`, the pending ones then go through `backfill-prefix --status pending`.
    """
    bucket = bucket or resources.settings().source_bucket
    uri = f"s3://{bucket}/{prefix}"
    name_run(f"reconcile {uri}")  # the schedule passes no bucket: named once it is known
    report = core.reconcile(
        core.list_versions(resources.s3(), bucket, prefix),
        core.recorded_in(resources.engine()),
        now=datetime.now(UTC),
        older_than=timedelta(seconds=older_than_seconds),
    )
    counts = report.counts()
    logger = get_run_logger()
    logger.info("%s: %s", uri, counts)
    expire_unanswered_reviews()
    publish(
        artifact_key("reconcile", bucket, prefix),
        report.markdown(f"Reconcile of `{uri}`"),
        f"Reconcile of {uri}",
    )
    if not report.lagging:
        return Completed(message=f"{report.listed} listed, nothing pending", data=counts)
    logger.warning("%d versions under %s are pending", len(report.pending), uri)
    emit_event(**events.ingestion_lagging(bucket, prefix, counts))
    message = f"{report.listed} listed, {len(report.pending)} pending"
    if process:
        state = backfill_prefix(
            bucket,
            prefix,
            status=core.PENDING,
            older_than_seconds=older_than_seconds,
            return_state=True,
        )
        message += f"; backfill of the pending: {state.message}"
        if not state.is_completed():
            return Failed(message=message, data=counts)
    return Completed(message=message, data=counts)
