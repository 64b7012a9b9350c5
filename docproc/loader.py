"""Writing outcomes to the database: one transaction per batch (or, when a fault cuts it
short, per piece of it), so each invoice is all or nothing.

Every statement is an upsert or a replace keyed by the SPEC's unique keys, so a
retry after a lost connection, or the same object processed twice, converges
on the same rows. A second document under a number already loaded is judged here,
under the lock of that number's row (SPEC section 10, `docproc.duplicates`).
Values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from docproc import duplicates, pieces, rows
from docproc.duplicates import POSSIBLE_DUPLICATE, Decision, LoadedDocument, status_of
from docproc.errors import retried
from docproc.models import (
    FetchedObject,
    Flag,
    Format,
    Invoice,
    ObjectRef,
    Rejection,
    Status,
)
from docproc.rows import key_sha256, upsert, versions
from docproc.schema import document_findings, document_reviews, documents, invoices

# Waits before each new attempt after a lost race: short, the winner commits in ms.
RACE_WAITS = (0.02, 0.04, 0.06, 0.08)
# MySQL's deadlock and lock wait timeout: a race for a number not yet loaded.
_RACE_CODES = frozenset({1213, 1205})
_DUPLICATE_ENTRY = 1062
Publish = Callable[[Sequence[Decision]], None]
# Further writes of the caller's in the batch's transaction, after its rows (a review's record).
Within = Callable[[Connection, Sequence[Decision]], None]
# Waits before a document that failed alone is tried again: a lost connection is back at
# once, a restarting server in seconds (what the tasks' retries wait, 1 + 2 + 4 s).
PIECE_WAITS = (0.1, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class DocumentRecord:
    """What the `documents` table knows about one object version."""

    status: Status
    reasons: tuple[str, ...]
    issuer_key: str | None
    customer_id: str | None
    invoice_id: str | None
    flow_run_id: str | None


def make_engine(url: str) -> Engine:
    """An engine that survives dropped connections: stale ones are pinged and replaced."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def now() -> datetime:
    """UTC, whole seconds: DATETIME columns hold no zone and MySQL rounds fractions."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _document_row(
    ref: ObjectRef,
    judged: Decision | Rejection,
    ids: Invoice | Rejection,
    flow_run_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    status, reasons = status_of(judged)
    return {
        "bucket": ref.bucket,
        "object_key": ref.key,
        "object_key_sha256": key_sha256(ref.key),
        "etag": ref.etag or "",
        "format": str(ids.format),
        "status": str(status),
        "reasons": ",".join(reasons) or None,
        "flags": None,
        "duplicate_of": None,
        "issuer_key": ids.issuer_key,
        "customer_id": ids.customer_id,
        "invoice_id": ids.invoice_id,
        "flow_run_id": flow_run_id,
        "processed_at": at,
    }


def record(
    engine: Engine,
    loaded: Sequence[tuple[Invoice, FetchedObject]] = (),
    rejected: Sequence[tuple[ObjectRef, Rejection]] = (),
    flow_run_id: str | None = None,
    *,
    replace: bool = False,
    publish: Publish | None = None,
    within: Within | None = None,
) -> list[Decision]:
    """Write a batch of outcomes in one transaction; returns what became of each invoice.

    Each invoice's number is locked (`SELECT ... FOR UPDATE`; SQLite has one writer
    anyway) and its document judged against what the number holds (SPEC section 10):
    loaded, a duplicate, a conflict held, or a replacement. The batch is judged in key
    order, as if its documents came one after another. `publish` writes the outputs
    (CSVs, conflict reports) while the locks are held and before the commit, so a CSV
    is only ever written by the document whose rows win, and a crash before the
    commit leaves nothing marked done. A run that lost a race for a new number (a
    deadlock, or the other's insert) starts again and finds the winner's rows. `within`
    writes more in the same transaction, after the rows (a review's decision, SPEC 12).
    """
    if not loaded and not rejected:
        return []
    attempt = partial(_record, engine, loaded, rejected, flow_run_id, replace, publish, within)
    return retried(attempt, RACE_WAITS, retry_if=_lost_race)


@dataclass(frozen=True)
class Recorded:
    """What `record_in_pieces` wrote (each invoice's decision), and what it could not: the
    versions left without a `documents` row, and the error that stopped it."""

    decisions: list[Decision]
    unwritten: list[ObjectRef]
    error: BaseException | None = None


@dataclass(frozen=True)
class _Entry:
    """One document of a batch to record: a valid invoice or a rejection."""

    ref: ObjectRef
    loaded: tuple[Invoice, FetchedObject] | None = None
    rejected: tuple[ObjectRef, Rejection] | None = None


def record_in_pieces(
    engine: Engine,
    loaded: Sequence[tuple[Invoice, FetchedObject]] = (),
    rejected: Sequence[tuple[ObjectRef, Rejection]] = (),
    flow_run_id: str | None = None,
    *,
    replace: bool = False,
    publish: Publish | None = None,
    waits: Sequence[float] = PIECE_WAITS,
    on_split: Callable[[int, BaseException], None] | None = None,
) -> Recorded:
    """`record` for a batch: one transaction while it gets through, smaller ones when not.

    A transaction that a transient fault ends (a lost connection, a throttled PUT) is
    written again as its halves, down to one document, each its own transaction
    (`docproc.pieces`). The pieces are taken in key order, earlier keys first, so the
    batch is still judged as if its documents came one after another (SPEC section 10).
    A document that still fails alone is left unwritten with every later one, for a
    later run to take in the same order; each transaction is all or nothing, and
    `record` is idempotent, so nothing is doubled or half-written.
    """
    entries = sorted(
        [_Entry(obj.ref, loaded=(inv, obj)) for inv, obj in loaded]
        + [_Entry(ref, rejected=(ref, rej)) for ref, rej in rejected],
        key=lambda e: (e.ref.key, e.ref.etag or ""),
    )

    def write(piece: Sequence[_Entry]) -> list[Decision]:
        return record(
            engine,
            [e.loaded for e in piece if e.loaded is not None],
            [e.rejected for e in piece if e.rejected is not None],
            flow_run_id,
            replace=replace,
            publish=publish,
        )

    written = pieces.in_pieces(entries, write, waits, on_split)
    return Recorded(written.results, [e.ref for e in written.unwritten], written.error)


def _lost_race(exc: BaseException) -> bool:
    """Another transaction inserted the same number first (or SQLite's writer was busy)."""
    if not isinstance(exc, IntegrityError | OperationalError):
        return False
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    if code in _RACE_CODES:
        return True
    statement = (exc.statement or "").lstrip().upper()
    if code == _DUPLICATE_ENTRY:
        return statement.startswith("INSERT INTO INVOICES ")
    return "database is locked" in str(orig) or "UNIQUE constraint failed: invoices." in str(orig)


def _record(
    engine: Engine,
    loaded: Sequence[tuple[Invoice, FetchedObject]],
    rejected: Sequence[tuple[ObjectRef, Rejection]],
    flow_run_id: str | None,
    replace: bool,
    publish: Publish | None,
    within: Within | None = None,
) -> list[Decision]:
    at = now()
    with engine.begin() as conn:
        ordered = sorted(loaded, key=lambda pair: (pair[1].ref.key, pair[1].ref.etag or ""))
        decisions, stored = _decide(conn, ordered, replace)
        winners = {
            (d.invoice.issuer_key, d.invoice.invoice_id): (d.invoice, obj)
            for d, (_, obj) in zip(decisions, ordered, strict=True)
            if d.writes
        }
        rows.write(conn, list(winners.values()), at, set(winners) - stored)
        doc_rows = [(d.ref, _decision_row(d, flow_run_id, at)) for d in decisions] + [
            (ref, _document_row(ref, rejection, rejection, flow_run_id, at))
            for ref, rejection in rejected
        ]
        decided = _decided(conn, {ref for ref, _ in doc_rows})
        for ref, row in doc_rows:
            if ref in decided:  # a person's answer stands when the version is read again
                row["flags"] = with_flag(row["flags"], Flag.REVIEWED)
        upsert(conn, documents, [row for _, row in doc_rows])
        _write_findings(
            conn,
            [(d.ref, d.invoice) for d in decisions] + [(ref, r) for ref, r in rejected],
        )
        decisions = _link(conn, decisions)
        if within is not None:
            within(conn, decisions)
        if publish is not None and decisions:
            # Two writers of one number in a batch (replace): the rows are the last one's,
            # so only its CSV may be put; both at once would race for the same key.
            last = {(d.invoice.issuer_key, d.invoice.invoice_id): d for d in decisions if d.writes}
            publish(
                [
                    d
                    for d in decisions
                    if not d.writes or last[d.invoice.issuer_key, d.invoice.invoice_id] is d
                ]
            )
    return decisions


# The formats the official rules judge (SPEC 3.1): only their documents can have findings.
_CHECKED = frozenset({Format.UBL, Format.CII, Format.FACTUR_X})


def _write_findings(
    conn: Connection, judged: Sequence[tuple[ObjectRef, Invoice | Rejection]]
) -> None:
    """The official rules' findings of these documents (SPEC 3.1), in the transaction of
    their `documents` rows, replacing those of an earlier run of the same version."""
    checked = {ref: verdict.findings for ref, verdict in judged if verdict.format in _CHECKED}
    if not checked:
        return
    ids = _document_ids(conn, set(checked))
    owner = document_findings.c.document_id
    conn.execute(delete(document_findings).where(owner.in_(list(ids.values()))))
    found = [
        {"document_id": ids[ref], "seq": seq, **f.as_json()}
        for ref, findings in checked.items()
        if ref in ids
        for seq, f in enumerate(findings, start=1)
    ]
    if found:
        conn.execute(document_findings.insert(), found)


def with_flag(flags: str | None, add: Flag, drop: Flag | None = None) -> str:
    """A `documents.flags` value with `add` (once) and without `drop`."""
    kept = [f for f in (flags or "").split(",") if f and f not in (add, drop)]
    return ",".join([*kept, str(add)])


def _decided(conn: Connection, refs: set[ObjectRef]) -> set[ObjectRef]:
    """The versions among these that a person has decided (a `document_reviews` row)."""
    if not refs:
        return set()
    by_digest, selected = versions(documents, refs)
    stmt = (
        select(documents.c.bucket, documents.c.object_key_sha256, documents.c.etag)
        .join(document_reviews, document_reviews.c.document_id == documents.c.id)
        .where(selected)
    )
    return {by_digest[(r.bucket, r.object_key_sha256, r.etag)] for r in conn.execute(stmt)}


def _decision_row(d: Decision, flow_run_id: str | None, at: datetime) -> dict[str, Any]:
    row = _document_row(d.ref, d, d.invoice, flow_run_id, at)
    row["flags"] = ",".join(d.flags) or None
    return row


def _decide(
    conn: Connection, ordered: Sequence[tuple[Invoice, FetchedObject]], replace: bool
) -> tuple[list[Decision], set[tuple[str, str]]]:
    """Judge each invoice against its number's rows, locked, and the batch's earlier ones;
    also returns the numbers that had rows before."""
    if not ordered:
        return [], set()
    current = rows.stored(conn, sorted({(i.issuer_key, i.invoice_id) for i, _ in ordered}))
    stored = set(current)
    similar = _similar(conn, [inv for inv, _ in ordered])
    again = {obj.ref for inv, obj in ordered if _is_source(current, inv, obj.ref)}
    before = _suspects_recorded(conn, again)
    decisions = []
    for inv, obj in ordered:
        key = (inv.issuer_key, inv.invoice_id)
        decision = duplicates.decide(inv, obj.ref, current.get(key), replace)
        if decision.writes:
            mine = LoadedDocument(obj.ref, inv.invoice_id)
            # A version loaded again keeps what it was flagged as: loading is idempotent.
            suspect = (
                before.get(obj.ref)
                if obj.ref in again
                else next(
                    (doc for sig, doc in similar.values() if duplicates.resembles(inv, sig)),
                    None,
                )
            )
            decision = dataclass_replace(decision, suspect_of=suspect)
            current[key] = (inv, mine)
            similar[key] = (duplicates.signature(inv), mine)
        decisions.append(decision)
    return decisions, stored


def _is_source(
    current: dict[tuple[str, str], tuple[Invoice, LoadedDocument]], inv: Invoice, ref: ObjectRef
) -> bool:
    found = current.get((inv.issuer_key, inv.invoice_id))
    return found is not None and found[1].ref == ref


def _suspects_recorded(conn: Connection, refs: set[ObjectRef]) -> dict[ObjectRef, LoadedDocument]:
    """The document each of these versions was flagged `possible_duplicate` of, if any."""
    if not refs:
        return {}
    mine, other = documents.alias("mine"), documents.alias("other")
    by_digest, selected = versions(mine, refs)
    stmt = (
        select(
            mine.c.bucket,
            mine.c.object_key_sha256,
            mine.c.etag,
            other.c.bucket.label("o_bucket"),
            other.c.object_key.label("o_key"),
            other.c.etag.label("o_etag"),
            other.c.invoice_id.label("o_invoice_id"),
            other.c.id.label("o_id"),
        )
        .join(other, other.c.id == mine.c.duplicate_of)
        .where(selected, mine.c.flags.contains(POSSIBLE_DUPLICATE))
    )
    return {
        by_digest[(r.bucket, r.object_key_sha256, r.etag)]: LoadedDocument(
            ObjectRef(r.o_bucket, r.o_key, r.o_etag or None), r.o_invoice_id or "", r.o_id
        )
        for r in conn.execute(stmt)
    }


def read_invoice(engine: Engine, issuer_key: str, invoice_id: str) -> Invoice | None:
    """The invoice as its rows hold it, and so as its CSV was exported."""
    with engine.connect() as conn:
        found = rows.stored(conn, [(issuer_key, invoice_id)], lock=False)
    return found[(issuer_key, invoice_id)][0] if found else None


def _similar(
    conn: Connection, batch: Sequence[Invoice]
) -> dict[tuple[str, str], tuple[duplicates.Signature, LoadedDocument]]:
    """Stored invoices with an issuer, date and total of the batch: the suspects' candidates."""
    wanted = sorted({(i.issuer_key, i.invoice_date, i.total) for i in batch})
    stmt = (
        select(
            invoices.c.issuer_key,
            invoices.c.invoice_id,
            invoices.c.invoice_date,
            invoices.c.total,
            invoices.c.currency,
            invoices.c.source_bucket,
            invoices.c.source_key,
            invoices.c.source_etag,
        )
        .where(tuple_(invoices.c.issuer_key, invoices.c.invoice_date, invoices.c.total).in_(wanted))
        .order_by(invoices.c.issuer_key, invoices.c.invoice_id)
    )
    return {
        (r.issuer_key, r.invoice_id): (
            duplicates.Signature(r.issuer_key, r.invoice_id, r.total, r.currency, r.invoice_date),
            LoadedDocument(
                ObjectRef(r.source_bucket, r.source_key, r.source_etag or None), r.invoice_id
            ),
        )
        for r in conn.execute(stmt)
    }


def _link(conn: Connection, decisions: list[Decision]) -> list[Decision]:
    """Fill `duplicate_of` with the `documents` id of the document each one names."""
    named = {doc.ref for d in decisions for doc in (d.other, d.suspect_of) if doc is not None}
    if not named:
        return decisions
    ids = _document_ids(conn, named)

    def with_id(doc: LoadedDocument | None) -> LoadedDocument | None:
        return None if doc is None else dataclass_replace(doc, id=ids.get(doc.ref))

    linked = [
        dataclass_replace(d, other=with_id(d.other), suspect_of=with_id(d.suspect_of))
        for d in decisions
    ]
    updates = [
        {
            "b_bucket": d.ref.bucket,
            "b_sha": key_sha256(d.ref.key),
            "b_etag": d.ref.etag or "",
            "b_of": target.id,
        }
        for d in linked
        # A flagged invoice names its look-alike (SPEC 10), even when it replaced another.
        if (target := d.suspect_of or d.other) is not None and target.id is not None
    ]
    if updates:
        conn.execute(
            update(documents)
            .where(
                documents.c.bucket == bindparam("b_bucket"),
                documents.c.object_key_sha256 == bindparam("b_sha"),
                documents.c.etag == bindparam("b_etag"),
            )
            .values(duplicate_of=bindparam("b_of")),
            updates,
        )
    return linked


def _document_ids(conn: Connection, refs: set[ObjectRef]) -> dict[ObjectRef, int]:
    by_digest, selected = versions(documents, refs)
    stmt = select(
        documents.c.bucket, documents.c.object_key_sha256, documents.c.etag, documents.c.id
    ).where(selected)
    return {by_digest[(r.bucket, r.object_key_sha256, r.etag)]: r.id for r in conn.execute(stmt)}


def find_document(engine: Engine, ref: ObjectRef) -> DocumentRecord | None:
    """What was recorded for this object version, if anything."""
    stmt = select(
        documents.c.status,
        documents.c.reasons,
        documents.c.issuer_key,
        documents.c.customer_id,
        documents.c.invoice_id,
        documents.c.flow_run_id,
    ).where(
        documents.c.bucket == ref.bucket,
        documents.c.object_key_sha256 == key_sha256(ref.key),
        documents.c.etag == (ref.etag or ""),
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    reasons = tuple(row.reasons.split(",")) if row.reasons else ()
    return DocumentRecord(
        Status(row.status),
        reasons,
        row.issuer_key,
        row.customer_id,
        row.invoice_id,
        row.flow_run_id,
    )


def recorded_versions(
    engine: Engine, refs: Sequence[ObjectRef]
) -> dict[ObjectRef, tuple[str, str | None]]:
    """The `documents` rows of these object versions, as (status, reasons): one query per batch.

    What the backfill's check and `reconcile` both ask, keyed as `record` wrote them.
    """
    if not refs:
        return {}
    by_digest, selected = versions(documents, refs)
    stmt = select(
        documents.c.bucket,
        documents.c.object_key_sha256,
        documents.c.etag,
        documents.c.status,
        documents.c.reasons,
    ).where(selected)
    with engine.connect() as conn:
        return {
            by_digest[(row.bucket, row.object_key_sha256, row.etag)]: (row.status, row.reasons)
            for row in conn.execute(stmt)
        }


def known_versions(engine: Engine, refs: Sequence[ObjectRef]) -> set[ObjectRef]:
    """Which of these object versions already have a `documents` row: one query per batch."""
    return set(recorded_versions(engine, refs))
