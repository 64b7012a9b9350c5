"""`process-batch`: objects that arrived together (a burst of uploads), as one batch run.

Created by the webhook for a group (deployments/handover.py). One run and six task runs for
the whole group instead of one run and six task runs per object, which is what lets
a burst go as fast as a backfill. The run is named after its objects and its
artifact has a row per object, so each one's outcome is found by key or invoice id.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from docproc.markdown import cell
from docproc.models import Invoice, ListedObject, ObjectRef, Status
from docproc.summary import Summary
from flows.naming import artifact_key, name_run, publish
from flows.opaque import as_is
from tasks import writer_slot
from tasks.batch import (
    Document,
    check_batch,
    export_batch,
    fetch_batch,
    load_batch,
    parse_batch,
    validate_batch,
)

Row = tuple[str, str, str, str]  # key, ETag, outcome, invoice id or reasons or error


def run_name(bucket: str, keys: list[str]) -> str:
    """`12 objects from s3://bucket (in/a.txt ... in/l.txt)`: the UI's search finds either end."""
    if len(keys) == 1:
        return f"1 object from s3://{bucket} ({keys[0]})"
    return f"{len(keys)} objects from s3://{bucket} ({keys[0]} ... {keys[-1]})"


def _row(document: Document) -> Row:
    status, reasons, error = document.outcome()
    ref = document.listed.ref
    detail = ", ".join(reasons) or error or ""
    if isinstance(document.verdict, Invoice) and status is Status.LOADED:
        detail = f"{document.verdict.issuer_key}/{document.verdict.invoice_id}"
    return ref.key, ref.etag or "", str(status), detail


def _markdown(bucket: str, rows: list[Row], message: str) -> str:
    lines = [
        f"# {len(rows)} objects from `s3://{bucket}`",
        "",
        message,
        "",
        "| key | ETag | outcome | invoice or reasons |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(cell(c) for c in row)} |" for row in rows]
    return "\n".join(lines)


@flow(name="process-batch")
def process_batch(bucket: str, objects: list[list[Any]], force: bool = False) -> State[Summary]:
    """Process objects of one bucket, given as [key, etag] pairs, through the batch steps.

    Versions that already have a `documents` row are skipped unless forced, so an event
    delivered twice, or a run started again after a crash, loads nothing twice.
    """
    refs = [ObjectRef(bucket, str(o[0]), str(o[1]) or None) for o in objects]
    name_run(run_name(bucket, [r.key for r in refs]))
    label = f"{len(refs)} objects"
    # Size 0: unknown from the event; fetch learns it from the headers and refuses too large.
    page = [ListedObject(ref, 0) for ref in refs]
    summary = Summary(listed=len(page))
    started = time.perf_counter()
    rows: dict[ObjectRef, Row] = {}
    with writer_slot.database_writer():
        todo, _ = check_batch(as_is(page), force, label)
        pending = {o.ref for o in todo}
        for ref in refs:
            if ref not in pending:
                rows[ref] = (ref.key, ref.etag or "", str(Status.SKIPPED), "already recorded")
                summary.add(ref.uri, Status.SKIPPED)
        if todo:
            fetched = fetch_batch(as_is(todo), label)
            validated = validate_batch(as_is(parse_batch(as_is(fetched), label)), label)
            exported = export_batch(as_is(validated), label)
            for d in load_batch(as_is(validated), exported, label):
                status, reasons, error = d.outcome()
                summary.add(d.uri, status, reasons, d.seconds, error, d.flags)
                rows[d.listed.ref] = _row(d)
    summary.seconds = time.perf_counter() - started
    counts = ", ".join(f"{n} {s}" for s, n in summary.statuses.items())
    message = f"{len(refs)} objects: {counts}"
    publish(
        artifact_key("batch", bucket, refs[0].key if refs else "empty"),
        _markdown(bucket, [rows[r] for r in refs if r in rows], message),
        run_name(bucket, [r.key for r in refs]),
    )
    get_run_logger().info("s3://%s: %s", bucket, message)
    final = Completed if summary.statuses[Status.FAILED] == 0 else Failed
    result: State[Summary] = final(message=message, data=summary)
    return result
