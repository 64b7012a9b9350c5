"""Writing outcomes to the database: one transaction per batch, so each invoice is all or nothing.

Every statement is an upsert or a replace keyed by the SPEC's unique keys, so a
retry after a lost connection, or the same object processed twice, converges
on the same rows. Values are always bound parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, select, tuple_
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import make_url

from docproc.models import FetchedObject, Format, Invoice, ObjectRef, Rejection, Status
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
) -> None:
    """Write a batch of outcomes in one transaction, with bulk statements.

    Loaded invoices are upserted and their items and taxes replaced; every object
    version gets its `documents` row, the mark that it is done. When a batch names
    one invoice twice, the later document wins, as it would one after the other.
    A rejection leaves an invoice loaded earlier from another document as it was;
    its row names the rejected document's ids when they could be read.
    """
    if not loaded and not rejected:
        return
    at = now()
    doc_rows = [
        _document_row(obj.ref, Status.LOADED, inv.format, (), inv, flow_run_id, at)
        for inv, obj in loaded
    ] + [
        _document_row(
            ref, Status.REJECTED, rejection.format, rejection.reasons, rejection, flow_run_id, at
        )
        for ref, rejection in rejected
    ]
    with engine.begin() as conn:
        _write_invoices(conn, loaded, at)
        _upsert(conn, documents, doc_rows)


def _write_invoices(
    conn: Connection, batch: Sequence[tuple[Invoice, FetchedObject]], at: datetime
) -> None:
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
    _upsert(conn, invoices, invoice_rows)
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
    by_digest = {(r.bucket, _key_sha256(r.key), r.etag or ""): r for r in refs}
    version = tuple_(documents.c.bucket, documents.c.object_key_sha256, documents.c.etag)
    stmt = select(
        documents.c.bucket,
        documents.c.object_key_sha256,
        documents.c.etag,
        documents.c.status,
        documents.c.reasons,
    ).where(version.in_(list(by_digest)))
    with engine.connect() as conn:
        return {
            by_digest[(row.bucket, row.object_key_sha256, row.etag)]: (row.status, row.reasons)
            for row in conn.execute(stmt)
        }


def known_versions(engine: Engine, refs: Sequence[ObjectRef]) -> set[ObjectRef]:
    """Which of these object versions already have a `documents` row: one query per batch."""
    return set(recorded_versions(engine, refs))
