"""The backfill's batch size when none is configured: few batches, but enough to overlap."""

import pytest

from docproc.batching import LARGEST, SMALLEST, batch_size_for


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
