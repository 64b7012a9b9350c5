"""`process-invoice`: one S3 object: fetch, parse, validate, then load (and export), or reject."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from docproc import export as exporter
from docproc.duplicates import Decision, Kind, status_of
from docproc.errors import DocprocError, Superseded
from docproc.ids import is_id
from docproc.models import FetchedObject, Invoice, ObjectRef, Outcome, Rejection, Status
from flows.naming import artifact_key, name_run, publish
from tasks.pipeline import check_processed, fetch, load, parse, reject, validate


def _finish(state: Callable[..., State[Any]], outcome: Outcome) -> State[Outcome]:
    get_run_logger().info("%s: %s", outcome.uri, outcome.message)
    result: State[Outcome] = state(message=outcome.message, data=outcome)
    return result


@flow(name="process-invoice")
def process_invoice(
    bucket: str, key: str, etag: str | None = None, force: bool = False, replace: bool = False
) -> State[Outcome]:
    """Load one invoice document from S3 into MySQL and export its CSV, or reject it.

    `replace`: a document with other values under a loaded number replaces the invoice
    instead of being held as a conflict; it reprocesses a version already done, as
    `force` does (SPEC section 10).
    """
    ref = ObjectRef(bucket, key, etag or None)
    try:
        return _process(ref, force, replace)
    except Exception:
        # Every step up to the row is safe to run again, and the row is the last write.
        get_run_logger().error(
            "%s: no documents row written; reconcile or a backfill of its prefix will process it",
            ref.uri,
        )
        raise


def _process(ref: ObjectRef, force: bool, replace: bool) -> State[Outcome]:
    """The steps, in the order that writes the `documents` row last."""
    name_run(ref.uri)
    fetched_state = fetch(ref, return_state=True)
    fetched: object = fetched_state.result(raise_on_failure=False)
    if isinstance(fetched, Superseded):
        return _finish(Completed, Outcome(Status.SKIPPED, ref.uri, str(fetched)))
    if isinstance(fetched, DocprocError):
        return _finish(Failed, Outcome(Status.FAILED, ref.uri, str(fetched)))
    if isinstance(fetched, BaseException):
        raise fetched
    if not isinstance(fetched, FetchedObject):
        raise TypeError(f"fetch gave {fetched!r}")

    if not (force or replace) and (record := check_processed(fetched.ref)) is not None:
        message = f"already {record.status} (ETag {fetched.ref.etag}): nothing to do"
        return _finish(Completed, Outcome(Status.SKIPPED, ref.uri, message, record.reasons))

    doc = parse(fetched)
    if is_id(invoice_id := doc.invoice_id):
        name_run(f"{invoice_id} from {ref.uri}")
    verdict: object = validate(doc, return_state=True).result(raise_on_failure=False)
    if isinstance(verdict, Rejection):
        report_uri = reject(fetched.ref, verdict)
        publish(
            artifact_key("rejection", ref.bucket, ref.key),
            exporter.rejection_markdown(fetched.ref, verdict, report_uri),
            f"Rejected {ref.uri}",
        )
        status, reasons = status_of(verdict)
        message = f"rejected: {', '.join(reasons)}"
        return _finish(Failed, Outcome(status, ref.uri, message, reasons, report_uri))
    if isinstance(verdict, BaseException):
        raise verdict
    if not isinstance(verdict, Invoice):
        raise TypeError(f"validate gave {verdict!r}")

    decision, output = load(verdict, fetched, replace)
    return _judged(decision, output, ref)


def _judged(decision: Decision, output: str | None, ref: ObjectRef) -> State[Outcome]:
    """The run's artifact and end for what the loader decided (SPEC section 10)."""
    inv = decision.invoice
    status, reasons = status_of(decision)
    markdown = exporter.decision_markdown(decision, ref.uri, output)
    other = decision.other.uri if decision.other else "another document"
    if status is Status.REJECTED:
        publish(
            artifact_key("rejection", ref.bucket, ref.key), markdown, f"Conflict held: {ref.uri}"
        )
        differ = len(decision.differences)
        message = f"rejected: conflicting_duplicate of {other} ({differ} values differ)"
        return _finish(Failed, Outcome(status, ref.uri, message, reasons, output))
    if status is Status.DUPLICATE:
        publish(artifact_key("duplicate", ref.bucket, ref.key), markdown, f"Duplicate: {ref.uri}")
        return _finish(Completed, Outcome(status, ref.uri, f"duplicate of {other}"))
    publish(
        artifact_key("invoice", inv.issuer_key, inv.invoice_id),
        markdown,
        f"Invoice {inv.invoice_id} from {ref.uri}",
    )
    message = (
        f"{'replaced' if decision.kind == Kind.REPLACED else 'loaded'} "
        f"{inv.issuer_key}/{inv.invoice_id}: {len(inv.items)} items, total {inv.total:.2f}"
    )
    if decision.suspect_of is not None:
        message += f"; flagged possible_duplicate of {decision.suspect_of.uri}"
    # A loaded invoice has no reasons; its outcome carries its flags (possible_duplicate).
    return _finish(Completed, Outcome(status, ref.uri, message, decision.flags, output))
