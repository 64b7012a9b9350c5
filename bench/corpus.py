"""Deterministic invoices shaped like the original sample, and a fast uploader for them.

Every document is the sample (about 600 bytes) under ids of its own, so that each one
becomes its own CSV and its own rows; every tenth one has a Total that does not add up
and is rejected, so that the reject path costs what it costs in real backfills. Each
one is dated a day after the one before (over 9,000 days): invoices of one seller with
the same total on the same date are `possible_duplicate`, rare in real backfills.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from importlib.resources import files
from typing import Any

from docproc.export import csv_key

SAMPLE: bytes = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
UPLOAD_THREADS = 32
FIRST_DATE = date(2000, 1, 1)
DATES = 9_000  # days: the dates repeat after as many documents


def is_valid(index: int) -> bool:
    """Whether document `index` passes validation: all but every tenth one."""
    return index % 10 != 9


def customer_id(index: int) -> str:
    return f"cu-{index // 50:06d}"


def invoice_id(index: int) -> str:
    return f"inv-{index:07d}"


def document(index: int) -> bytes:
    """The sample with its own ids and item amounts that still add up to its Amount."""
    shift = index % 100
    dated = (FIRST_DATE + timedelta(days=index % DATES)).strftime("%b %d %Y")
    text = (
        SAMPLE.replace(b"sm-LK0080145", customer_id(index).encode())
        .replace(b"inv-00001", invoice_id(index).encode())
        .replace(b"Mar 31 2018", dated.encode())
        .replace(b"controller; 2000;", f"controller; {2000 + shift};".encode())
        .replace(b"damper; 3100;", f"damper; {3100 - shift};".encode())
    )
    return text if is_valid(index) else text.replace(b"Total: 8150", b"Total: 8151")


def source_key(prefix: str, index: int) -> str:
    return f"{prefix}{index:07d}.txt"


def expected_csv_key(export_prefix: str, index: int) -> str:
    """Where docproc must write the CSV of a valid document (SPEC section 5)."""
    return csv_key(export_prefix, customer_id(index), invoice_id(index))


def upload(
    s3: Any,
    bucket: str,
    prefix: str,
    count: int,
    body: Callable[[int], bytes] = document,
    threads: int = UPLOAD_THREADS,
    first: int = 0,
) -> None:
    """PUT documents `first` to `first + count - 1` on a thread pool: the corpus is set-up,
    not the measured part. Two corpora in one database need ranges of their own, or the
    second one's invoices are duplicates of the first's.

    `s3` must allow `threads` pooled connections (storage.s3_client's max_pool_connections).
    """

    def put_every(offset: int) -> None:
        # Strided rather than one future per object: 100,000 futures cost memory and time.
        for index in range(first + offset, first + count, threads):
            s3.put_object(Bucket=bucket, Key=source_key(prefix, index), Body=body(index))

    with ThreadPoolExecutor(threads) as pool:
        # list() re-raises the first failed PUT here instead of dropping it.
        list(pool.map(put_every, range(threads)))
