"""The steps of `process-invoice`: fetch, parse, validate, export and load, or reject.

Outputs go to the target bucket before the `documents` row is committed: a
valid invoice's CSV (or a held conflict's report) is written by `export` inside
the transaction that judges and loads it, under its number's lock; a version
with a row is done, and a run cut short anywhere before it is simply run again.

Expected outcomes (a missing object, a rejected document) end a task as a
`Failed` state with a message, not as an exception: the UI shows why, the
logs hold no traceback, and `retry_transient` leaves them alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from prefect import get_run_logger, task
from prefect.client.schemas.objects import State
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import Failed

from docproc import events, formats, loader, rules, storage
from docproc.duplicates import Decision
from docproc.errors import DocprocError
from docproc.loader import DocumentRecord
from docproc.models import FetchedObject, Invoice, ObjectRef, Rejection
from docproc.outputs import decision_output, output
from tasks import resources, writer_slot
from tasks.options import TASK_DEFAULTS
from tasks.review import open_reviews


@task(name="fetch", task_run_name="fetch {ref.key}", **TASK_DEFAULTS)
def fetch(ref: ObjectRef) -> FetchedObject | State[DocprocError]:
    """Download the object, or only learn its size when it is too large to accept."""
    try:
        fetched = storage.fetch(resources.s3(), ref, resources.settings().max_document_bytes)
    except DocprocError as exc:
        get_run_logger().error("%s", exc)
        return Failed(message=str(exc), data=exc)
    get_run_logger().info("fetched %s: %d bytes, ETag %s", ref.uri, fetched.size, fetched.ref.etag)
    return fetched


@task(name="check-processed", task_run_name="check {ref.key}", **TASK_DEFAULTS)
def check_processed(ref: ObjectRef) -> DocumentRecord | None:
    """A version with a `documents` row is done: its row is written after its output."""
    return loader.find_document(resources.engine(), ref)


@task(name="parse", task_run_name="parse {fetched.ref.key}", **TASK_DEFAULTS)
def parse(fetched: FetchedObject) -> formats.Document:
    """Recognise the format and read the document's values; nothing is judged yet."""
    limit = resources.settings().max_document_bytes
    if fetched.body is None:
        return formats.oversized(fetched.size, limit)
    pdf = resources.pdf_options_for([fetched.body])
    doc = formats.read(fetched.body, max_bytes=limit, pdf=pdf)
    get_run_logger().info("read %s", formats.describe(doc))
    return doc


@task(name="validate", task_run_name="validate", **TASK_DEFAULTS)
def validate(doc: formats.Document) -> Invoice | State[Rejection]:
    """Apply the rules of SPEC section 3; a rejection ends this task Failed, never retried."""
    result = rules.judge(doc, resources.settings().official_rules)
    if isinstance(result, Rejection):
        get_run_logger().warning("rejected: %s", "; ".join(result.details))
        return Failed(message=f"rejected: {', '.join(result.reasons)}", data=result)
    get_run_logger().info(
        "valid: %s/%s, total %s", result.issuer_key, result.invoice_id, result.total
    )
    return result


class Loaded(NamedTuple):
    """What `load` did, and the CSV or report it wrote (None for a duplicate)."""

    decision: Decision
    output: str | None


def replacing(replace: bool) -> bool:
    """The `replace` parameter, or `DOCPROC_DUPLICATE_POLICY=replace` (SPEC section 10)."""
    return replace or resources.settings().duplicate_policy == "replace"


def announce(decision: Decision) -> None:
    """Send the conflict and suspect events; the rows are the record, so an API that
    refuses them costs a warning."""
    for event in events.invoice_events(decision):
        try:
            emit_event(**event)
        except Exception as exc:
            get_run_logger().warning("could not send %s: %s", event["event"], exc)


@task(name="load", task_run_name="load {invoice.invoice_id}", **TASK_DEFAULTS)
def load(invoice: Invoice, fetched: FetchedObject, replace: bool = False) -> Loaded:
    """Judge the invoice against its number's rows and write its rows, its output (through
    `export`, under the row's lock) and its `documents` row in one transaction."""
    written: list[str] = []

    def publish(decisions: Sequence[Decision]) -> None:
        written[:] = [uri for d in decisions if (uri := export(d)) is not None]

    with writer_slot.database_writer():
        [decision] = loader.record(
            resources.engine(),
            loaded=[(invoice, fetched)],
            flow_run_id=flow_run.id,
            replace=replacing(replace),
            publish=publish,
        )
    announce(decision)
    open_reviews([decision])  # a conflict held or a suspect flagged asks a person (SPEC 12)
    get_run_logger().info(
        "%s %s/%s with %d items%s",
        decision.kind,
        invoice.issuer_key,
        invoice.invoice_id,
        len(invoice.items),
        f" (flagged possible_duplicate of {decision.suspect_of.uri})"
        if decision.suspect_of
        else "",
    )
    return Loaded(decision, written[0] if written else None)


@task(name="export", task_run_name="export {decision.invoice.invoice_id}", **TASK_DEFAULTS)
def export(decision: Decision) -> str | None:
    """Put the invoice's CSV, or a held conflict's report, in the target bucket."""
    out = decision_output(decision, resources.settings(), flow_run.id, loader.now())
    if out is None:
        return None
    storage.put(resources.s3(), *out)
    get_run_logger().info("exported %s", out.uri)
    return out.uri


@task(name="reject", task_run_name="reject {ref.key}", **TASK_DEFAULTS)
def reject(ref: ObjectRef, rejection: Rejection) -> str:
    """Write the report, then record the rejection: the record is what marks the version done."""
    report = output(ref, rejection, resources.settings(), flow_run.id, loader.now())
    storage.put(resources.s3(), *report)
    with writer_slot.database_writer():
        loader.record(resources.engine(), rejected=[(ref, rejection)], flow_run_id=flow_run.id)
    get_run_logger().info("wrote rejection report %s", report.uri)
    return report.uri
