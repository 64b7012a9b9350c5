"""Bucket listings made up as they are read, and what `documents` says of their versions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from docproc.models import ObjectRef
from docproc.reconcile import ListedVersion, Recorded

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
