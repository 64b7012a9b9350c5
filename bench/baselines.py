"""The two yardsticks the backfill is measured against, in the same run and on the same objects.

- `io_floor`: the I/O alone, as fast as this machine allows it: the listing, then per
  object a GET and a PUT of a CSV-sized body on 32 threads, then one bulk INSERT of one
  row per object. No parsing, no validation, no Prefect: nothing can do the same I/O
  faster with boto3, so docproc's throughput over this is its efficiency.
- `plain_script`: what a user would write without docproc: one object after another,
  GET, parse and validate with docproc's own rules, INSERTs with autocommit (one
  statement per table, items and taxes as one multi-row statement each), PUT of the CSV
  or of the rejection report.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, create_engine

from bench.corpus import SAMPLE
from docproc.export import (
    CSV_CONTENT_TYPE,
    REPORT_CONTENT_TYPE,
    csv_key,
    invoice_csv,
    rejection_report,
    report_key,
)
from docproc.formats.text import parse
from docproc.loader import now
from docproc.models import Invoice, ObjectRef
from docproc.rules.text import validate
from docproc.schema import create_all, documents, invoice_items, invoice_taxes, invoices
from docproc.settings import DEFAULT_REJECT_PREFIX

FLOOR_THREADS = 32
FLOOR_PREFIX = "floor/"


@dataclass(frozen=True)
class Rate:
    docs: int
    seconds: float
    cpu_seconds: float = 0.0  # the client's CPU (user + system) over the same clock

    @property
    def per_second(self) -> float:
        return self.docs / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu_seconds / self.docs


def iter_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Page by page, as the backfill lists: memory stays flat whatever the prefix holds."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def _csv_sized_body() -> bytes:
    invoice = validate(parse(SAMPLE))
    assert isinstance(invoice, Invoice)
    return invoice_csv(invoice)


def io_floor(
    s3: Any,
    bucket: str,
    prefix: str,
    target_bucket: str,
    database_url: str,
    threads: int = FLOOR_THREADS,
) -> Rate:
    """GET + PUT per object on `threads` threads, then one bulk INSERT; the clock covers all.

    `s3` must allow `threads` pooled connections. The rows go to a scratch table of their
    own; the PUTs under `floor/` in the target bucket.
    """
    body = _csv_sized_body()
    scratch = Table(
        "bench_floor",
        MetaData(),
        Column("object_key", String(255), primary_key=True),
        Column("etag", String(64), nullable=False),
        Column("size", Integer, nullable=False),
    )
    engine = create_engine(database_url)
    try:
        scratch.metadata.create_all(engine)

        def copy(key: str) -> dict[str, Any]:
            got = s3.get_object(Bucket=bucket, Key=key)
            data = got["Body"].read()
            s3.put_object(
                Bucket=target_bucket, Key=f"{FLOOR_PREFIX}{key}.csv", Body=body,
                ContentType=CSV_CONTENT_TYPE,
            )  # fmt: skip
            return {"object_key": key, "etag": got["ETag"].strip('"'), "size": len(data)}

        start, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(copy, key) for key in iter_keys(s3, bucket, prefix)]
            rows = [future.result() for future in futures]
        with engine.begin() as conn:
            conn.execute(scratch.insert(), rows)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        return Rate(len(rows), seconds, cpu)
    finally:
        engine.dispose()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _insert_invoice(
    conn: Connection, invoice: Invoice, ref: ObjectRef, data: bytes, at: datetime
) -> dict[str, str]:
    """The invoice's rows, one autocommitted statement per table; returns its key columns."""
    owner = {"issuer_key": invoice.issuer_key, "invoice_id": invoice.invoice_id}
    row: dict[str, Any] = owner | {
        "customer_id": invoice.customer_id,
        "document_type": str(invoice.document_type),
        "format": str(invoice.format),
        "allowance_total": invoice.allowance_total,
        "charge_total": invoice.charge_total,
        "net_total": invoice.net_total,
        "prepaid": invoice.prepaid,
        "rounding": invoice.rounding,
        "payable": invoice.payable,
        "invoice_date": invoice.invoice_date,
        "seller": invoice.seller,
        "buyer": invoice.buyer,
        "currency": invoice.currency,
        "amount": invoice.amount,
        "tax_total": invoice.tax_total,
        "total": invoice.total,
        "total_in_words": invoice.total_in_words,
        "source_bucket": ref.bucket,
        "source_key": ref.key,
        "source_etag": ref.etag,
        "content_sha256": _sha256(data),
        "loaded_at": at,
    }
    conn.execute(invoices.insert(), row)
    items: list[dict[str, Any]] = [
        owner | {"line_no": i.line_no, "description": i.description, "amount": i.amount,
                 "tax": i.tax}
        for i in invoice.items
    ]  # fmt: skip
    if items:
        conn.execute(invoice_items.insert(), items)
    taxes: list[dict[str, Any]] = [
        owner | {"entry_no": n, "kind": t.kind, "amount": t.amount}
        for n, t in enumerate(invoice.taxes, start=1)
    ]
    if taxes:
        conn.execute(invoice_taxes.insert(), taxes)
    return owner


def plain_script(
    s3: Any,
    bucket: str,
    prefix: str,
    target_bucket: str,
    database_url: str,
    export_prefix: str = "",
    reject_prefix: str = DEFAULT_REJECT_PREFIX,
) -> Rate:
    """One object after another into docproc's tables (created first, outside the clock)."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        create_all(engine)
        count = 0
        start = time.perf_counter()
        with engine.connect() as conn:
            for key in iter_keys(s3, bucket, prefix):
                got = s3.get_object(Bucket=bucket, Key=key)
                data = got["Body"].read()
                ref = ObjectRef(bucket, key, got["ETag"].strip('"'))
                result = validate(parse(data))
                at = now()
                doc: dict[str, Any] = {
                    "bucket": bucket,
                    "object_key": key,
                    "object_key_sha256": _sha256(key.encode()),
                    "etag": ref.etag,
                    "processed_at": at,
                }
                if isinstance(result, Invoice):
                    owner = _insert_invoice(conn, result, ref, data, at)
                    conn.execute(documents.insert(), doc | owner | {"status": "loaded"})
                    out_key = csv_key(export_prefix, result.issuer_key, result.invoice_id)
                    body, content_type = invoice_csv(result), CSV_CONTENT_TYPE
                else:
                    reasons = ",".join(result.reasons)
                    conn.execute(
                        documents.insert(), doc | {"status": "rejected", "reasons": reasons}
                    )
                    out_key = report_key(reject_prefix, key)
                    body = rejection_report(ref, result, None, at)
                    content_type = REPORT_CONTENT_TYPE
                s3.put_object(
                    Bucket=target_bucket, Key=out_key, Body=body, ContentType=content_type
                )
                count += 1
        return Rate(count, time.perf_counter() - start)
    finally:
        engine.dispose()
