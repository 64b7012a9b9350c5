"""Writing outcomes to the database: one transaction per batch, so each invoice is all or nothing.

Every statement is an upsert or a replace keyed by the SPEC's unique keys, so a
retry after a lost connection, or the same object processed twice, converges
on the same rows. A second document under a number already loaded is judged here,
under the lock of that number's row (SPEC section 10, `docproc.duplicates`).
Values are always bound parameters.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from docproc import duplicates
from docproc.duplicates import Decision, Kind, LoadedDocument
from docproc.models import (
    DocumentType,
    FetchedObject,
    Format,
    Invoice,
    Item,
    ObjectRef,
    Reason,
    Rejection,
    Status,
    Tax,
)
from docproc.schema import documents, invoice_items, invoice_taxes, invoices


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


def _versions(
    table: Any, refs: Iterable[ObjectRef]
) -> tuple[dict[tuple[str, str, str], ObjectRef], ColumnElement[bool]]:
    """These versions keyed as `documents` stores them (bucket, key digest, ETag), and the
    condition that selects their rows of `table` (`documents` or an alias of it)."""
    by_digest = {(r.bucket, _key_sha256(r.key), r.etag or ""): r for r in refs}
    version = tuple_(table.c.bucket, table.c.object_key_sha256, table.c.etag)
    return by_digest, version.in_(list(by_digest))


def _upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT, or UPDATE every non-key column when the unique key already exists."""
    if not rows:
        return
    keys = _conflict_columns(table)
    update = [c.name for c in table.columns if c.name not in keys and not c.primary_key]
    if conn.dialect.name == "sqlite":
        lite = sqlite.insert(table)
        stmt: Any = lite.on_conflict_do_update(
            index_elements=keys, set_={c: lite.excluded[c] for c in update}
        )
    else:
        my = mysql.insert(table)
        stmt = my.on_duplicate_key_update({c: my.inserted[c] for c in update})
    conn.execute(stmt, list(rows))


def _conflict_columns(table: Table) -> list[str]:
    if table is documents:
        return ["bucket", "object_key_sha256", "etag"]
    return [c.name for c in table.primary_key.columns]


def _key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _document_row(
    ref: ObjectRef,
    status: Status,
    fmt: Format,
    reasons: Iterable[str],
    ids: Invoice | Rejection,
    flow_run_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "bucket": ref.bucket,
        "object_key": ref.key,
        "object_key_sha256": _key_sha256(ref.key),
        "etag": ref.etag or "",
        "format": str(fmt),
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
) -> list[Decision]:
    """Write a batch of outcomes in one transaction; returns what became of each invoice.

    Each invoice's number is locked (`SELECT ... FOR UPDATE`; SQLite has one writer
    anyway) and its document judged against what the number holds (SPEC section 10):
    loaded, a duplicate, a conflict held, or a replacement. The batch is judged in key
    order, as if its documents came one after another. `publish` writes the outputs
    (CSVs, conflict reports) while the locks are held and before the commit, so a CSV
    is only ever written by the document whose rows win, and a crash before the
    commit leaves nothing marked done. A run that lost a race for a new number (a
    deadlock, or the other's insert) starts again and finds the winner's rows.
    """
    if not loaded and not rejected:
        return []
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            return _record(engine, loaded, rejected, flow_run_id, replace, publish)
        except (IntegrityError, OperationalError) as exc:
            if attempt == RACE_ATTEMPTS or not _lost_race(exc):
                raise
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 (jitter, not a secret)
    raise AssertionError("unreachable")


RACE_ATTEMPTS = 5
# MySQL's deadlock and lock wait timeout: a race for a number not yet loaded.
_RACE_CODES = frozenset({1213, 1205})
_DUPLICATE_ENTRY = 1062
Publish = Callable[[Sequence[Decision]], None]


def _lost_race(exc: IntegrityError | OperationalError) -> bool:
    """Another transaction inserted the same number first (or SQLite's writer was busy)."""
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
        _write_invoices(conn, list(winners.values()), at, set(winners) - stored)
        doc_rows = [_decision_row(d, flow_run_id, at) for d in decisions] + [
            _document_row(
                ref,
                Status.REJECTED,
                rejection.format,
                rejection.reasons,
                rejection,
                flow_run_id,
                at,
            )
            for ref, rejection in rejected
        ]
        _upsert(conn, documents, doc_rows)
        decisions = _link(conn, decisions)
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


def _decision_row(d: Decision, flow_run_id: str | None, at: datetime) -> dict[str, Any]:
    reasons: tuple[str, ...]
    if d.kind == Kind.CONFLICT:
        status, reasons = Status.REJECTED, (str(Reason.CONFLICTING_DUPLICATE),)
    elif d.kind == Kind.DUPLICATE:
        status, reasons = Status.DUPLICATE, ()
    else:
        status, reasons = Status.LOADED, ()
    row = _document_row(d.ref, status, d.invoice.format, reasons, d.invoice, flow_run_id, at)
    row["flags"] = ",".join(d.flags) or None
    return row


def _decide(
    conn: Connection, ordered: Sequence[tuple[Invoice, FetchedObject]], replace: bool
) -> tuple[list[Decision], set[tuple[str, str]]]:
    """Judge each invoice against its number's rows, locked, and the batch's earlier ones;
    also returns the numbers that had rows before."""
    if not ordered:
        return [], set()
    current = _lock_invoices(conn, sorted({(i.issuer_key, i.invoice_id) for i, _ in ordered}))
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
    by_digest, selected = _versions(mine, refs)
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
        .where(selected, mine.c.flags.is_not(None))
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
        found = _lock_invoices(conn, [(issuer_key, invoice_id)], lock=False)
    return found[(issuer_key, invoice_id)][0] if found else None


def _lock_invoices(
    conn: Connection, keys: list[tuple[str, str]], lock: bool = True
) -> dict[tuple[str, str], tuple[Invoice, LoadedDocument]]:
    """The stored invoices of these numbers, locked until the commit, in key order."""
    owner = tuple_(invoices.c.issuer_key, invoices.c.invoice_id)
    stmt = (
        select(invoices)
        .where(owner.in_(keys))
        .order_by(invoices.c.issuer_key, invoices.c.invoice_id)
    )
    rows = conn.execute(stmt.with_for_update() if lock else stmt).all()
    if not rows:
        return {}
    found = [(r.issuer_key, r.invoice_id) for r in rows]
    items: dict[tuple[str, str], list[Item]] = {k: [] for k in found}
    taxes: dict[tuple[str, str], list[Tax]] = {k: [] for k in found}
    item_owner = tuple_(invoice_items.c.issuer_key, invoice_items.c.invoice_id)
    for i in conn.execute(
        select(invoice_items).where(item_owner.in_(found)).order_by(invoice_items.c.line_no)
    ):
        items[(i.issuer_key, i.invoice_id)].append(
            Item(
                i.line_no,
                i.description,
                i.amount,
                i.tax,
                i.line_id,
                i.quantity,
                i.unit_code,
                i.unit_price,
                i.tax_category,
                i.tax_rate,
            )
        )
    tax_owner = tuple_(invoice_taxes.c.issuer_key, invoice_taxes.c.invoice_id)
    for t in conn.execute(
        select(invoice_taxes).where(tax_owner.in_(found)).order_by(invoice_taxes.c.entry_no)
    ):
        taxes[(t.issuer_key, t.invoice_id)].append(
            Tax(t.kind, t.amount, t.category, t.rate, t.taxable_amount)
        )
    out = {}
    for r in rows:
        key = (r.issuer_key, r.invoice_id)
        stored = Invoice(
            customer_id=r.customer_id,
            invoice_id=r.invoice_id,
            invoice_date=r.invoice_date,
            seller=r.seller,
            buyer=r.buyer,
            currency=r.currency,
            amount=r.amount,
            tax_total=r.tax_total,
            total=r.total,
            total_in_words=r.total_in_words,
            items=tuple(items[key]),
            taxes=tuple(taxes[key]),
            issuer_key=r.issuer_key,
            format=Format(r.format),
            document_type=DocumentType(r.document_type),
            type_code=r.type_code,
            profile=r.profile,
            due_date=r.due_date,
            seller_tax_id=r.seller_tax_id,
            buyer_tax_id=r.buyer_tax_id,
            allowance_total=r.allowance_total,
            charge_total=r.charge_total,
            net_total=r.net_total,
            prepaid=r.prepaid,
            rounding=r.rounding,
            payable=r.payable,
        )
        source = ObjectRef(r.source_bucket, r.source_key, r.source_etag or None)
        out[key] = (stored, LoadedDocument(source, r.invoice_id))
    return out


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
            "b_sha": _key_sha256(d.ref.key),
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
    by_digest, selected = _versions(documents, refs)
    stmt = select(
        documents.c.bucket, documents.c.object_key_sha256, documents.c.etag, documents.c.id
    ).where(selected)
    return {by_digest[(r.bucket, r.object_key_sha256, r.etag)]: r.id for r in conn.execute(stmt)}


def _write_invoices(
    conn: Connection,
    batch: Sequence[tuple[Invoice, FetchedObject]],
    at: datetime,
    new: set[tuple[str, str]],
) -> None:
    """Numbers not stored before are plainly inserted: a racing insert of the same number
    fails (and is judged again) instead of overwriting the winner's row."""
    latest = {(inv.issuer_key, inv.invoice_id): (inv, obj) for inv, obj in batch}
    if not latest:
        return
    invoice_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    tax_rows: list[dict[str, Any]] = []
    for (issuer_key, invoice_id), (inv, obj) in latest.items():
        owner = {"issuer_key": issuer_key, "invoice_id": invoice_id}
        invoice_rows.append(
            owner
            | {
                "customer_id": inv.customer_id,
                "document_type": str(inv.document_type),
                "type_code": inv.type_code,
                "format": str(inv.format),
                "profile": inv.profile,
                "invoice_date": inv.invoice_date,
                "due_date": inv.due_date,
                "seller": inv.seller,
                "seller_tax_id": inv.seller_tax_id,
                "buyer": inv.buyer,
                "buyer_tax_id": inv.buyer_tax_id,
                "currency": inv.currency,
                "amount": inv.amount,
                "allowance_total": inv.allowance_total,
                "charge_total": inv.charge_total,
                "net_total": inv.net_total,
                "tax_total": inv.tax_total,
                "total": inv.total,
                "prepaid": inv.prepaid,
                "rounding": inv.rounding,
                "payable": inv.payable,
                "total_in_words": inv.total_in_words,
                "source_bucket": obj.ref.bucket,
                "source_key": obj.ref.key,
                "source_etag": obj.ref.etag or "",
                "content_sha256": obj.sha256 or "",
                "loaded_at": at,
            }
        )
        item_rows += [
            owner
            | {
                "line_no": i.line_no,
                "line_id": i.line_id,
                "description": i.description,
                "quantity": i.quantity,
                "unit_code": i.unit_code,
                "unit_price": i.unit_price,
                "amount": i.amount,
                "tax": i.tax,
                "tax_category": i.tax_category,
                "tax_rate": i.tax_rate,
            }
            for i in inv.items
        ]
        tax_rows += [
            owner
            | {
                "entry_no": n,
                "kind": t.kind,
                "category": t.category,
                "rate": t.rate,
                "taxable_amount": t.taxable_amount,
                "amount": t.amount,
            }
            for n, t in enumerate(inv.taxes, start=1)
        ]
    fresh = [r for r in invoice_rows if (r["issuer_key"], r["invoice_id"]) in new]
    if fresh:
        conn.execute(invoices.insert(), fresh)
    _upsert(
        conn, invoices, [r for r in invoice_rows if (r["issuer_key"], r["invoice_id"]) not in new]
    )
    keys = list(latest)
    for child in (invoice_items, invoice_taxes):
        owner_key = tuple_(child.c.issuer_key, child.c.invoice_id)
        conn.execute(delete(child).where(owner_key.in_(keys)))
    if item_rows:
        conn.execute(invoice_items.insert(), item_rows)
    if tax_rows:
        conn.execute(invoice_taxes.insert(), tax_rows)


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
        documents.c.object_key_sha256 == _key_sha256(ref.key),
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
    by_digest, selected = _versions(documents, refs)
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
