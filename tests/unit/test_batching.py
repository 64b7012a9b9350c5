"""The backfill's batch size when none is configured: few batches, but enough to overlap."""

import pytest

from docproc.batching import LARGEST, SMALLEST, batch_size_for, chunks, counted


@pytest.mark.parametrize(
    ("total", "size"),
    [
        (0, SMALLEST),
        (1, SMALLEST),
        (800, SMALLEST),  # a small prefix keeps today's batches: four of them overlap
        (801, 201),
        (2_000, 500),  # four batches, not ten: 36 task runs fewer
        (100_000, LARGEST),  # memory grows with a batch's bytes: capped
    ],
)
def test_sized_to_the_prefix(total: int, size: int) -> None:
    assert batch_size_for(total) == size


def test_a_configured_size_wins() -> None:
    assert batch_size_for(100_000, 50) == 50
    assert batch_size_for(10, 1000) == 1000


def test_a_small_listing_is_kept_as_it_is_counted() -> None:
    pages = [[1, 2, 3], [], [4, 5]]
    assert counted(iter(pages), keep=5) == (5, [1, 2, 3, 4, 5])


def test_a_listing_larger_than_kept_is_only_counted() -> None:
    """Memory stays bounded: one object over the bound and none is kept."""
    pages = ([n] * 1000 for n in range(10))
    assert counted(pages, keep=9_999) == (10_000, None)


def test_chunks_keep_order_and_end_short() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 2)) == []
