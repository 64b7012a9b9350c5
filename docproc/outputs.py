"""What a judged document leaves in the target bucket: its CSV or its rejection report.

Built here once, for the single run and the backfill alike (SPEC section 5); the
`documents` row that marks the version done is `loader.record`'s, written after.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from docproc import duplicates, export
from docproc.duplicates import Decision, Kind
from docproc.models import Invoice, ObjectRef, Problem, Reason, Rejection
from docproc.settings import Settings


class Output(NamedTuple):
    """One object to put: a (bucket, key, body, content type) tuple, as `storage.put_many` takes."""

    bucket: str
    key: str
    body: bytes
    content_type: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def output(
    ref: ObjectRef,
    verdict: Invoice | Rejection,
    settings: Settings,
    flow_run_id: str | None,
    at: datetime,
) -> Output:
    """The CSV of an accepted invoice, or the report of a rejected document."""
    if isinstance(verdict, Invoice):
        key = export.csv_key(settings.export_prefix, verdict.issuer_key, verdict.invoice_id)
        return Output(
            settings.target_bucket, key, export.invoice_csv(verdict), export.CSV_CONTENT_TYPE
        )
    key = export.report_key(settings.reject_prefix, ref.key)
    report = export.rejection_report(ref, verdict, flow_run_id, at)
    return Output(settings.target_bucket, key, report, export.REPORT_CONTENT_TYPE)


def decision_output(
    decision: Decision, settings: Settings, flow_run_id: str | None, at: datetime
) -> Output | None:
    """What a judged invoice writes: its CSV when its rows win, a report when it is held,
    nothing when it is a duplicate (the loaded invoice's CSV stays as it is)."""
    if decision.writes:
        return output(decision.ref, decision.invoice, settings, flow_run_id, at)
    if decision.kind != Kind.CONFLICT:
        return None
    rejection = conflict_rejection(decision)
    key = export.report_key(settings.reject_prefix, decision.ref.key)
    report = export.rejection_report(
        decision.ref, rejection, flow_run_id, at, export.conflict_fields(decision)
    )
    return Output(settings.target_bucket, key, report, export.REPORT_CONTENT_TYPE)


def conflict_rejection(decision: Decision) -> Rejection:
    """A held conflict as the rejection it is recorded as."""
    inv = decision.invoice
    problem = Problem(Reason.CONFLICTING_DUPLICATE, duplicates.conflict_detail(decision))
    return Rejection((problem,), inv.format, inv.issuer_key, inv.customer_id, inv.invoice_id)
