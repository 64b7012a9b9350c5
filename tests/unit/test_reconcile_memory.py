"""`reconcile` holds one page at a time: its memory does not grow with the listing."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from docproc.models import ObjectRef
from docproc.reconcile import ListedVersion, Recorded, reconcile

UPLOADED = datetime(2026, 1, 1, tzinfo=UTC)
LOADED = Recorded("loaded", ())
REJECTED = Recorded("rejected", ("bad_date",))


def listing(objects: int, page_size: int = 1000) -> Iterator[list[ListedVersion]]:
    """A listing made as it is read, as S3's paginator yields it."""
    for start in range(0, objects, page_size):
        yield [
            ListedVersion(ObjectRef("src", f"in/{n:07d}.txt", f"{n:032x}"), 600, UPLOADED)
            for n in range(start, min(start + page_size, objects))
        ]


def recorded(refs: Sequence[ObjectRef]) -> dict[ObjectRef, Recorded]:
    """Every version recorded but one in 10,000 (pending); one in ten rejected."""
    found = {}
    for ref in refs:
        n = int(ref.etag or "0", 16)
        if n % 10_000 != 7:
            found[ref] = REJECTED if n % 10 == 3 else LOADED
    return found


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
