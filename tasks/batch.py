"""The steps of `backfill-prefix`, on batches: one task run per step per batch, not per document.

A task run costs milliseconds against the API, so per-document task runs would cap a
backfill far below what S3 and MySQL can do; each batch step instead does its I/O
concurrently (fetch, export) or in bulk (one transaction for the batch's rows).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from docproc import formats, loader, rules, storage
from docproc.duplicates import Decision, status_of
from docproc.errors import ObjectMissing, Superseded
from docproc.models import (
    FetchedObject,
    Invoice,
    ListedObject,
    Rejection,
    Status,
)
from docproc.outputs import decision_output, output
from tasks import resources, writer_slot
from tasks.options import TASK_DEFAULTS
from tasks.pipeline import announce, replacing
from tasks.review import open_reviews


@dataclass
class Document:
    """One object's way through a batch, filled in step by step."""

    listed: ListedObject
    fetched: storage.Fetched
    seconds: float
    doc: formats.Document | None = None
    verdict: Invoice | Rejection | None = None
    decision: Decision | None = None
    error: str | None = None  # why the load left it without a `documents` row

    @property
    def uri(self) -> str:
        return self.listed.ref.uri

    @property
    def flags(self) -> tuple[str, ...]:
        """What the load flagged (`possible_duplicate`), for summaries."""
        return self.decision.flags if self.decision else ()

    def outcome(self) -> tuple[Status, tuple[str, ...], str | None]:
        """(status, reasons, error) once the batch is through; flags are `flags`."""
        if isinstance(self.fetched, Superseded):
            return Status.SKIPPED, (), None
        if isinstance(self.fetched, ObjectMissing):
            return Status.FAILED, (), str(self.fetched)
        if self.error is not None:
            return Status.FAILED, (), self.error
        judged = self.decision or self.verdict
        if isinstance(judged, Decision | Rejection):
            return *status_of(judged), None
        return Status.FAILED, (), "never validated" if judged is None else "never loaded"


def readable(documents: list[Document]) -> list[tuple[Document, FetchedObject]]:
    return [(d, d.fetched) for d in documents if isinstance(d.fetched, FetchedObject)]


@task(name="check-batch", task_run_name="check {label}", **TASK_DEFAULTS)
def check_batch(
    listed: list[ListedObject], force: bool, label: str
) -> tuple[list[ListedObject], int]:
    """Drop the versions that already have a `documents` row, unless forced."""
    if force:
        return listed, 0
    known = loader.known_versions(resources.engine(), [o.ref for o in listed])
    return [o for o in listed if o.ref not in known], len(known)


@task(name="fetch-batch", task_run_name="fetch {label}", **TASK_DEFAULTS)
def fetch_batch(listed: list[ListedObject], label: str) -> list[Document]:
    """GET the batch with bounded concurrency; a vanished or overwritten object is kept as such."""
    config = resources.settings()
    results = storage.fetch_many(
        resources.s3(), listed, config.max_document_bytes, config.s3_concurrency
    )
    return [
        Document(obj, result, seconds)
        for obj, (result, seconds) in zip(listed, results, strict=True)
    ]


@task(name="parse-batch", task_run_name="parse {label}", **TASK_DEFAULTS)
def parse_batch(documents: list[Document], label: str) -> list[Document]:
    limit = resources.settings().max_document_bytes
    pdf = resources.pdf_options_for(f.body for _, f in readable(documents))
    for d, fetched in readable(documents):
        started = time.perf_counter()
        body = fetched.body
        d.doc = (
            formats.oversized(fetched.size, limit)
            if body is None
            else formats.read(body, max_bytes=limit, pdf=pdf)
        )
        d.seconds += time.perf_counter() - started
    return documents


@task(name="validate-batch", task_run_name="validate {label}", **TASK_DEFAULTS)
def validate_batch(documents: list[Document], label: str) -> list[Document]:
    """Judge each document alone: one bad document never fails its batch."""
    official_rules = resources.settings().official_rules
    for d in documents:
        if d.doc is not None:
            started = time.perf_counter()
            d.verdict = rules.judge(d.doc, official_rules)
            d.seconds += time.perf_counter() - started
    valid = sum(isinstance(d.verdict, Invoice) for d in documents)
    rejected = sum(isinstance(d.verdict, Rejection) for d in documents)
    get_run_logger().info("%s: %d valid, %d rejected", label, valid, rejected)
    return documents


@task(name="export-batch", task_run_name="export {label}", **TASK_DEFAULTS)
def export_batch(documents: list[Document], label: str) -> int:
    """PUT the batch's rejection reports, concurrently; safe to repeat. The CSVs are the
    loader's to write, once it has judged each invoice against its number's rows."""
    config = resources.settings()
    at = loader.now()
    outputs = [
        output(fetched.ref, d.verdict, config, flow_run.id, at)
        for d, fetched in readable(documents)
        if isinstance(d.verdict, Rejection)
    ]
    storage.put_many(resources.s3(), outputs, config.s3_concurrency)
    return len(outputs)


@task(name="load-batch", task_run_name="load {label}", **TASK_DEFAULTS)
def load_batch(
    documents: list[Document], exported: int, label: str, replace: bool = False
) -> list[Document]:
    """Judge and write the batch's invoices, their CSVs (or conflict reports, under the
    numbers' locks) and every `documents` row in one transaction, in key order; in
    smaller ones when a fault cuts it short (`loader.record_in_pieces`)."""
    config = resources.settings()
    logger = get_run_logger()
    loaded = [(d.verdict, f) for d, f in readable(documents) if isinstance(d.verdict, Invoice)]
    rejected = [
        (f.ref, d.verdict) for d, f in readable(documents) if isinstance(d.verdict, Rejection)
    ]

    def publish(decisions: Sequence[Decision]) -> None:
        at = loader.now()
        outputs = [
            out
            for d in decisions
            if (out := decision_output(d, config, flow_run.id, at)) is not None
        ]
        storage.put_many(resources.s3(), outputs, config.s3_concurrency)

    splits: list[str] = []

    def split(size: int, error: BaseException) -> None:
        splits.append(f"{size} documents after {type(error).__name__}")

    # Backfill and batch runs hold a slot for their whole life, and this is a no-op
    # (measured under a 1,000-upload burst: batch runs that took it for the load alone
    # were no faster); a fanned-out backfill's child run takes one for its load here.
    with writer_slot.database_writer():
        recorded = loader.record_in_pieces(
            resources.engine(),
            loaded,
            rejected,
            flow_run.id,
            replace=replacing(replace),
            publish=publish,
            on_split=split,
        )
    by_ref = {d.ref: d for d in recorded.decisions}
    unwritten = set(recorded.unwritten)
    error = f"{type(recorded.error).__name__}: {recorded.error}"
    for d, f in readable(documents):
        d.decision = by_ref.get(f.ref)
        if f.ref in unwritten:
            d.error = error
    for decision in recorded.decisions:
        announce(decision)
    open_reviews(recorded.decisions)  # a conflict held or a suspect: a question (SPEC 12)
    if splits:
        logger.warning("%s: split %d times (%s, ...)", label, len(splits), splits[0])
    if unwritten:
        logger.error("%s: %d documents not recorded: %s", label, len(unwritten), error)
    kinds = Counter(str(d.kind) for d in recorded.decisions)
    suspects = sum(d.suspect_of is not None for d in recorded.decisions)
    logger.info(
        "%s: %s, %d rejected, %d suspect",
        label,
        ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no invoice",
        len(rejected),
        suspects,
    )
    return documents
