"""`backfill --status`'s selection: per listing page, only the versions of one outcome."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from datetime import timedelta

import pytest

from docproc.models import ListedObject, ObjectRef
from docproc.reconcile import ListedVersion, Recorded, selected_pages
from tests.support.listings import UPLOADED, listing, recorded

WORDS = Recorded("rejected", ("total_mismatch", "words_mismatch"))
DATE = Recorded("rejected", ("bad_date",))


def version(key: str, minutes: int = 0) -> ListedVersion:
    return ListedVersion(ObjectRef("src", key, key), 10, UPLOADED + timedelta(minutes=minutes))


PAGES = [
    [version("loaded"), version("words"), version("none-old")],
    [],
    [version("date"), version("none-new", minutes=30)],
]
ROWS = {
    PAGES[0][0].ref: Recorded("loaded", ()),
    PAGES[0][1].ref: WORDS,
    PAGES[2][0].ref: DATE,
}


def lookup(refs: Sequence[ObjectRef]) -> dict[ObjectRef, Recorded]:
    return {r: ROWS[r] for r in refs if r in ROWS}


def keys(status: str, reasons: tuple[str, ...] = (), batch_size: int = 1000) -> list[list[str]]:
    cutoff = UPLOADED + timedelta(minutes=10)
    pages = selected_pages(
        PAGES, lookup, status=status, reasons=reasons, cutoff=cutoff, batch_size=batch_size
    )
    return [[o.ref.key for o in page] for page in pages]


@pytest.mark.parametrize(
    ("status", "reasons", "expected"),
    [
        ("rejected", (), [["words", "date"]]),
        ("rejected", ("words_mismatch",), [["words"]]),
        ("rejected", ("words_mismatch", "bad_date"), [["words", "date"]]),
        ("rejected", ("unreadable",), []),
        ("loaded", (), [["loaded"]]),
        # No row and uploaded before the cutoff; the one after it may still be on its way.
        ("pending", (), [["none-old"]]),
    ],
)
def test_selects_by_status_and_reason(
    status: str, reasons: tuple[str, ...], expected: list[list[str]]
) -> None:
    assert keys(status, reasons) == expected


def test_selected_versions_come_in_batches_of_the_backfill_size() -> None:
    assert keys("rejected", batch_size=1) == [["words"], ["date"]]


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown status 'maybe'"):
        keys("maybe")


def test_memory_stays_flat_while_selecting_from_100_000_objects() -> None:
    def peak(objects: int) -> tuple[int, int]:
        tracemalloc.start()
        try:
            chosen = 0
            for page in selected_pages(
                listing(objects), recorded, status="rejected", cutoff=UPLOADED, batch_size=500
            ):
                assert all(isinstance(o, ListedObject) for o in page)
                chosen += len(page)
            _, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return top, chosen

    small, _ = peak(10_000)
    large, chosen = peak(100_000)
    assert chosen == 10_000  # one in ten is rejected
    assert large < small * 1.5, (small, large)


def test_the_artifact_names_the_pending_versions_up_to_a_limit() -> None:
    from docproc.reconcile import Report

    report = Report(listed=3, pending=[version("a|b"), version("c"), version("d")])
    markdown = report.markdown("Reconcile", shown=2)
    assert "| **pending** | 3 |" in markdown
    assert "`s3://src/a\\|b`" in markdown and "s3://src/c" in markdown
    assert "s3://src/d" not in markdown and "| and 1 more |" in markdown
