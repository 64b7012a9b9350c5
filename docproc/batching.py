"""How a backfill's listing becomes batches, and how many documents a batch holds when
the user has not said.

Each batch costs six task runs whatever its size, and each task run costs the Prefect
server about 60 ms of CPU on SQLite (its state events, measured with bench/run.py's
latency section): batches of 200 over 2,000 documents cost it 3.5 CPU-s, batches of 500
1.5 CPU-s, on a machine where the server competes with S3 and the client for two cores.
Small batches still matter for a small prefix, where the overlap of fetching one batch
while the previous one loads is most of the speed, and for memory, which grows with a
batch's bytes. Hence: about `TARGET_BATCHES` batches, within [SMALLEST, LARGEST].
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

SMALLEST = 200
LARGEST = 500
TARGET_BATCHES = 4  # enough batches for the overlap, and as few as that allows


def batch_size_for(total: int, configured: int | None = None) -> int:
    """The configured size when there is one, else one sized to the prefix's `total`."""
    if configured:
        return configured
    return max(SMALLEST, min(LARGEST, -(-total // TARGET_BATCHES)))


KEPT_LISTING = 10_000  # objects the counting pass keeps: a prefix this small is listed once


def counted(pages: Iterable[Sequence[T]], keep: int = KEPT_LISTING) -> tuple[int, list[T] | None]:
    """How many items `pages` hold, and the items themselves when there are at most `keep`.

    The backfill counts its listing first (progress as a share of the whole, batches sized
    to it). Keeping a small listing spares a second one: for 2,000 objects, two list
    requests that each cost moto as much as about 50 GETs (137 ms of its CPU), and the
    wait for them before the first batch. A larger listing is dropped as it is counted,
    so that memory stays bounded on any prefix.
    """
    total = 0
    kept: list[T] = []
    for page in pages:
        total += len(page)
        if total <= keep:
            kept.extend(page)
    return total, kept if total <= keep else None


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size`, the last one shorter."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
