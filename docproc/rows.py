"""Invoices as the rows of SPEC section 4's tables, and back: one mapping, driven by the fields.

Each field of `Invoice`, `Item` and `Tax` is the column of the same name in `invoices`,
`invoice_items` and `invoice_taxes` (an `Invoice`'s `items` and `taxes` are its child
rows). A field without a column fails at import, so no value is ever dropped on the way
in or out. The loader writes and reads invoices through here, and `export` names its
CSV cells by the same fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, get_type_hints

from sqlalchemy import Connection, Numeric, Table, delete, select, tuple_
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from docproc.duplicates import LoadedDocument
from docproc.models import FetchedObject, Invoice, Item, ObjectRef, Tax
from docproc.schema import documents, invoice_items, invoice_taxes, invoices

R = TypeVar("R", Invoice, Item, Tax)
Key = tuple[str, str]  # (issuer_key, invoice_id)

TABLES: dict[type[Invoice | Item | Tax], Table] = {
    Invoice: invoices,
    Item: invoice_items,
    Tax: invoice_taxes,
}
CHILDREN = frozenset({"items", "taxes"})  # an invoice's fields held as child rows
# The official rules' findings are the document's (`document_findings`), not the invoice's.
DOCUMENT_FIELDS = frozenset({"findings"})
NOT_COLUMNS = CHILDREN | DOCUMENT_FIELDS


def _mapped(cls: type[Invoice | Item | Tax]) -> dict[str, type | None]:
    """The fields stored as columns, each with the enum its column's text is read back as."""
    hints = get_type_hints(cls)
    table = TABLES[cls]
    out: dict[str, type | None] = {}
    for f in fields(cls):
        if f.name in NOT_COLUMNS:
            continue
        if f.name not in table.c:
            raise TypeError(f"{cls.__name__}.{f.name} has no column in `{table.name}`")
        hint = hints[f.name]
        out[f.name] = hint if isinstance(hint, type) and issubclass(hint, Enum) else None
    return out


FIELDS = {cls: _mapped(cls) for cls in TABLES}


def is_money(cls: type[Invoice | Item | Tax], name: str) -> bool:
    """Whether the field is an amount of money (two decimals) rather than a quantity or rate."""
    kind = TABLES[cls].c[name].type
    return isinstance(kind, Numeric) and kind.scale == 2


def values(record: Invoice | Item | Tax) -> dict[str, Any]:
    """The record's columns, as bound parameters (enums as their text)."""
    return {
        name: str(value) if isinstance(value := getattr(record, name), Enum) else value
        for name in FIELDS[type(record)]
    }


def from_row(cls: type[R], row: Any, **children: Any) -> R:
    """A record from its row (any mapping or Row with the columns), plus an invoice's children."""
    m = row._mapping if hasattr(row, "_mapping") else row
    read = {name: m[name] if enum is None else enum(m[name]) for name, enum in FIELDS[cls].items()}
    return cls(**read, **children)


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def versions(
    table: Any, refs: Iterable[ObjectRef]
) -> tuple[dict[tuple[str, str, str], ObjectRef], ColumnElement[bool]]:
    """These versions keyed as `documents` stores them (bucket, key digest, ETag), and the
    condition that selects their rows of `table` (`documents` or an alias of it)."""
    by_digest = {(r.bucket, key_sha256(r.key), r.etag or ""): r for r in refs}
    version = tuple_(table.c.bucket, table.c.object_key_sha256, table.c.etag)
    return by_digest, version.in_(list(by_digest))


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT, or UPDATE every non-key column when the unique key already exists."""
    if not rows:
        return
    keys = (
        ["bucket", "object_key_sha256", "etag"]
        if table is documents
        else [c.name for c in table.primary_key.columns]
    )
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


def stored(
    conn: Connection, keys: list[Key], lock: bool = True
) -> dict[Key, tuple[Invoice, LoadedDocument]]:
    """The stored invoices of these numbers and the documents they came from, locked until
    the commit (`SELECT ... FOR UPDATE`) unless `lock` is false, in key order."""
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
    items: dict[Key, list[Item]] = {k: [] for k in found}
    taxes: dict[Key, list[Tax]] = {k: [] for k in found}
    item_owner = tuple_(invoice_items.c.issuer_key, invoice_items.c.invoice_id)
    for i in conn.execute(
        select(invoice_items).where(item_owner.in_(found)).order_by(invoice_items.c.line_no)
    ):
        items[(i.issuer_key, i.invoice_id)].append(from_row(Item, i))
    tax_owner = tuple_(invoice_taxes.c.issuer_key, invoice_taxes.c.invoice_id)
    for t in conn.execute(
        select(invoice_taxes).where(tax_owner.in_(found)).order_by(invoice_taxes.c.entry_no)
    ):
        taxes[(t.issuer_key, t.invoice_id)].append(from_row(Tax, t))
    out = {}
    for r in rows:
        key = (r.issuer_key, r.invoice_id)
        invoice = from_row(Invoice, r, items=tuple(items[key]), taxes=tuple(taxes[key]))
        source = ObjectRef(r.source_bucket, r.source_key, r.source_etag or None)
        out[key] = (invoice, LoadedDocument(source, r.invoice_id))
    return out


def write(
    conn: Connection,
    batch: Sequence[tuple[Invoice, FetchedObject]],
    at: datetime,
    new: set[Key],
) -> None:
    """Write these invoices with their items and taxes; the last of a number wins.

    Numbers not stored before are plainly inserted: a racing insert of the same number
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
            values(inv)
            | {
                "source_bucket": obj.ref.bucket,
                "source_key": obj.ref.key,
                "source_etag": obj.ref.etag or "",
                "content_sha256": obj.sha256 or "",
                "loaded_at": at,
            }
        )
        item_rows += [owner | values(i) for i in inv.items]
        tax_rows += [owner | values(t) | {"entry_no": n} for n, t in enumerate(inv.taxes, start=1)]
    fresh = [r for r in invoice_rows if (r["issuer_key"], r["invoice_id"]) in new]
    if fresh:
        conn.execute(invoices.insert(), fresh)
    upsert(
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
