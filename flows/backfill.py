"""`backfill-prefix`: every object under a prefix, through the same steps, in batches.

Batches overlap (while one exports, the next is fetched), with a bounded number in
flight, so S3 never waits on the parser and memory stays flat on any prefix size.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prefect import allow_failure, flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed

from docproc import reconcile, storage
from docproc.batching import batch_size_for, chunks, counted
from docproc.models import ListedObject, ObjectRef, Status
from docproc.summary import Summary
from flows.naming import artifact_key, progress, publish
from flows.opaque import as_is
from tasks import resources, writer_slot
from tasks.batch import (
    Document,
    check_batch,
    export_batch,
    fetch_batch,
    load_batch,
    parse_batch,
    validate_batch,
)

IN_FLIGHT = 2  # batches under way at once: enough to keep S3 busy while one is parsed

Listener = Callable[[Summary, int], None]
_listeners: list[Listener] = []


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    """Let an in-process caller (the CLI's progress bar) see each batch's progress."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@dataclass
class Batch:
    label: str
    todo: list[ListedObject]
    loaded: PrefectFuture[list[Document]]
    steps: tuple[PrefectFuture[Any], ...] = ()  # fetch to export: the first that failed says why


def _submit(
    page: list[ListedObject],
    force: bool,
    label: str,
    summary: Summary,
    previous: Batch | None,
    replace: bool = False,
) -> Batch | None:
    """Start the batch's steps as a chain of task runs; versions already done are counted.

    Loads run one after another, in listing order, so that an invoice named in two
    batches ends as its later document, as it would without the overlap.
    """
    todo, skipped = check_batch(as_is(page), force or replace, label)
    summary.skip(skipped)
    if not todo:
        return None
    # `as_is`: Prefect resolves each future but does not walk into the hundreds of
    # documents it holds, which took a third of the backfill's CPU.
    fetched = fetch_batch.submit(as_is(todo), label)
    parsed = parse_batch.submit(as_is(fetched), label)
    validated = validate_batch.submit(as_is(parsed), label)
    exported = export_batch.submit(as_is(validated), label)
    after = [allow_failure(previous.loaded)] if previous else None
    loaded = load_batch.submit(
        as_is(validated), exported, label, replace, wait_for=after, return_state=False
    )
    return Batch(label, todo, loaded, (fetched, parsed, validated, exported))


def _settle(batch: Batch, summary: Summary) -> None:
    """Wait for a batch and count it; a batch that failed after its retries fails alone."""
    batch.loaded.wait()
    # A load whose earlier step failed never ran: its state is not final and has no result.
    failed = next((f for f in (*batch.steps, batch.loaded) if _failed(f.state)), batch.loaded)
    documents = failed.result(raise_on_failure=False) if failed.state.is_final() else None
    if not isinstance(documents, list):
        error = f"{type(documents).__name__}: {documents}" if documents else str(failed.state)
        get_run_logger().error("%s failed: %s", batch.label, error)
        for obj in batch.todo:
            summary.add(obj.ref.uri, Status.FAILED, error=error)
        return
    for d in documents:
        status, reasons, why = d.outcome()
        summary.add(d.uri, status, reasons, d.seconds, why, d.flags)


def _failed(state: State[Any]) -> bool:
    return state.is_final() and not state.is_completed()


def _finish(summary: Summary, uri: str) -> State[Summary]:
    counts = ", ".join(f"{n} {s}" for s, n in summary.statuses.items()) or "nothing to do"
    message = f"{summary.listed} listed: {counts} ({summary.docs_per_second:.0f} docs/s)"
    get_run_logger().info("%s: %s", uri, message)
    final = Completed if summary.statuses[Status.FAILED] == 0 else Failed
    result: State[Summary] = final(message=message, data=summary)
    return result


@flow(name="backfill-prefix", flow_run_name="backfill s3://{bucket}/{prefix}")
def backfill_prefix(
    bucket: str,
    prefix: str = "",
    force: bool = False,
    batch_size: int | None = None,
    fan_out: int = 0,
    status: str | None = None,
    reasons: list[str] | None = None,
    older_than_seconds: float = 300,
    replace: bool = False,
) -> State[Summary]:
    """Process every object under an S3 prefix, in batches; versions already done are skipped.

    `replace`: other values under a loaded invoice number replace it instead of being
    held as conflicts, and versions already done are processed again (SPEC section 10).

    With `fan_out` > 0 the batches run as up to that many child runs of the
    `backfill-batch` deployment, shared by the workers of its work pool.
    With `status` only the versions recorded so (and for one of `reasons`, when
    given) are processed again, or with `pending` those `reconcile` calls pending
    (no row, uploaded more than `older_than_seconds` ago): SPEC section 11.
    """
    s3 = resources.s3()
    uri = f"s3://{bucket}/{prefix}"
    summary = Summary()
    started = time.perf_counter()
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)

    def listing(page_size: int = 1000) -> Iterator[list[ListedObject]]:
        if status is None:
            return storage.iter_pages(s3, bucket, prefix, page_size)
        recorded = reconcile.recorded_in(resources.engine())
        versions = reconcile.list_versions(s3, bucket, prefix)
        return reconcile.selected_pages(
            versions,
            recorded,
            status=status,
            reasons=reasons or (),
            cutoff=cutoff,
            batch_size=page_size,
        )

    # The selected versions are processed again whatever their row says.
    force = force or status is not None
    # A listing-only pass first, so that progress can be shown as a share of the whole
    # and the batches sized to it; a listing small enough to keep is not asked for again.
    # The database is got ready meanwhile, for the first batch's check (a fanned-out
    # backfill's children have their own).
    if fan_out == 0:
        resources.prepare_engine()
    total, kept = counted(listing())
    size = batch_size_for(total, batch_size or resources.settings().batch_size)
    get_run_logger().info("%d objects under %s, in batches of %d", total, uri, size)
    show_progress = progress(f"Backfill of {uri}")

    def report() -> None:
        summary.seconds = time.perf_counter() - started
        show_progress(100.0 * summary.processed / max(total, 1))
        for listener in _listeners:
            listener(summary, total)

    pages = listing(size) if kept is None else chunks(kept, size)
    if fan_out > 0:
        fan_out_batches(pages, bucket, force, fan_out, summary, report, replace)
    else:
        in_process_batches(pages, force, summary, report, replace)

    publish(
        artifact_key("backfill", bucket, prefix),
        summary.markdown(f"Backfill of `{uri}`"),
        f"Backfill of {uri}",
    )
    return _finish(summary, uri)


def in_process_batches(
    pages: Iterator[list[ListedObject]],
    force: bool,
    summary: Summary,
    report: Callable[[], None],
    replace: bool = False,
) -> None:
    in_flight: deque[Batch] = deque()
    # One writer whose loads follow one another: one writer slot for the whole run.
    with writer_slot.database_writer():
        for number, page in enumerate(pages, start=1):
            summary.listed += len(page)
            label = f"batch {number} ({len(page)} objects)"
            previous = in_flight[-1] if in_flight else None
            if batch := _submit(page, force, label, summary, previous, replace):
                in_flight.append(batch)
            while len(in_flight) > IN_FLIGHT:
                _settle(in_flight.popleft(), summary)
            report()
        while in_flight:
            _settle(in_flight.popleft(), summary)
            report()


BATCH_DEPLOYMENT = "backfill-batch/backfill-batch"


def fan_out_batches(
    pages: Iterator[list[ListedObject]],
    bucket: str,
    force: bool,
    fan_out: int,
    summary: Summary,
    report: Callable[[], None],
    replace: bool = False,
) -> None:
    """Each batch a child run of the `backfill-batch` deployment, at most `fan_out` at once.

    The idempotency key names the parent run and the batch's object versions, so a
    retried parent finds its children instead of starting them again.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES, FlowRun
    from prefect.deployments import run_deployment
    from prefect.runtime import flow_run

    running: dict[UUID, list[ListedObject]] = {}
    with get_client(sync_client=True) as client:

        def collect() -> None:
            """Count the children that have finished; wait a little when none has.

            One filtered read for all of them, not one request per child per poll.
            """
            time.sleep(0.5)
            finished = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=list(running)),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=sorted(TERMINAL_STATES))
                    ),
                ),
                # The API's page limit; more finished ones are counted at the next poll.
                limit=min(len(running), 200),
            )
            for child in finished:
                if child.id in running and child.state is not None:
                    _count_child(child.state, running.pop(child.id), summary)
                    report()

        for number, page in enumerate(pages, start=1):
            summary.listed += len(page)
            versions = "\n".join(f"{o.ref.key}\t{o.ref.etag}" for o in page)
            digest = hashlib.sha256(versions.encode("utf-8", "surrogatepass")).hexdigest()[:24]
            child = cast(
                FlowRun,  # Prefect types it "or a coroutine": it is one in async code only
                run_deployment(
                    BATCH_DEPLOYMENT,
                    parameters={
                        "bucket": bucket,
                        "objects": [[o.ref.key, o.ref.etag, o.size] for o in page],
                        "force": force,
                        "label": f"batch {number} ({len(page)} objects)",
                        "replace": replace,
                    },
                    timeout=0,
                    idempotency_key=f"{flow_run.id}:{number}:{digest}",
                ),
            )
            running[child.id] = page
            while len(running) >= fan_out:
                collect()
        while running:
            collect()


def _count_child(state: State[Any], page: list[ListedObject], summary: Summary) -> None:
    part = state.result(raise_on_failure=False)
    if isinstance(part, Summary):
        summary.merge(part)
        return
    for obj in page:
        summary.add(obj.ref.uri, Status.FAILED, error=f"child run {state.name}: {state.message}")


@flow(
    name="backfill-batch",
    flow_run_name="{label} of s3://{bucket}",
    persist_result=True,
)
def backfill_batch(
    bucket: str,
    objects: list[list[Any]],
    force: bool = False,
    label: str = "batch",
    replace: bool = False,
) -> State[Summary]:
    """One batch of a fanned-out backfill: (key, etag, size) triples, the same steps."""
    page = [ListedObject(ObjectRef(bucket, str(k), str(e)), int(n)) for k, e, n in objects]
    summary = Summary(listed=len(page))
    started = time.perf_counter()
    batch = _submit(page, force, label, summary, None, replace)
    if batch is not None:
        _settle(batch, summary)
    summary.seconds = time.perf_counter() - started
    return _finish(summary, f"s3://{bucket} {label}")
