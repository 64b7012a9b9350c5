"""`reconcile` holds one page at a time: its memory does not grow with the listing."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

from docproc.reconcile import reconcile
from tests.support.listings import UPLOADED, listing, recorded


def peak_bytes(objects: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        report = reconcile(listing(objects), recorded, now=UPLOADED + timedelta(hours=1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.listed == objects
    assert len(report.pending) == objects // 10_000
    assert report.by_status["rejected"] == report.by_reason["bad_date"] == objects // 10
    return peak, len(report.pending)


def test_memory_stays_flat_from_10_000_to_100_000_objects() -> None:
    small, _ = peak_bytes(10_000)
    large, pending = peak_bytes(100_000)
    assert pending == 10
    # Ten times the objects, about the same peak: one page and its lookup, never the listing
    # (which alone would take tens of megabytes at 100,000 objects).
    assert large < small * 1.5, (small, large)
