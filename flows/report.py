"""`report`: the VAT and spend reports of one month as Prefect table artifacts (SPEC 12).

Scheduled on the first day of each month (prefect.yaml), it reports the month before,
taken from the run's scheduled time, so that a run started late still reports the
month it was meant for.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from docproc import reports
from flows.naming import artifact_key, name_run
from tasks import resources


@flow(name="report", retries=2, retry_delay_seconds=300)
def report(month: str | None = None, issuer: str | None = None) -> dict[str, int]:
    """Sum one month's loaded invoices: VAT per currency, category and rate; spend per issuer."""
    if month:
        start, end = reports.parse_month(month)
    else:
        start, end = reports.month_before(flow_run.scheduled_start_time.date())
    period = f"{start:%Y-%m}"
    name_run(f"report {period}" + (f" of {issuer}" if issuer else ""))
    engine = resources.engine()
    counts = {}
    for name, title, read in (("vat", "VAT", reports.vat), ("spend", "Spend", reports.spend)):
        frame = read(engine, start, end, issuer)
        create_table_artifact(
            key=artifact_key("report", name, *([issuer] if issuer else [])),
            table=reports.records(frame),
            description=f"**{title} {period}**: {reports.describe(name, start, end, issuer)}",
        )
        counts[name] = len(frame)
    get_run_logger().info("%s: %s rows", period, counts)
    return counts
