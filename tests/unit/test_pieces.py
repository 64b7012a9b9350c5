"""A batch written in halves, down to single items, when a transient fault cuts it short."""

from collections.abc import Sequence

import pytest

from docproc.pieces import in_pieces

NO_WAITS = (0.0, 0.0)


class Writer:
    """Writes pieces of ints; fails (transiently) every piece larger than `fits`, and
    `fails` times more each for the items named in `flaky`."""

    def __init__(self, fits: int = 100, flaky: dict[int, int] | None = None) -> None:
        self.fits = fits
        self.flaky = dict(flaky or {})
        self.calls: list[list[int]] = []
        self.written: list[int] = []

    def __call__(self, piece: Sequence[int]) -> list[int]:
        self.calls.append(list(piece))
        if len(piece) > self.fits:
            raise ConnectionError("lost connection")
        for item in piece:
            if self.flaky.get(item, 0) > 0:
                self.flaky[item] -= 1
                raise ConnectionError(f"lost connection on {item}")
        self.written += piece
        return [item * 10 for item in piece]


def test_a_batch_that_goes_through_is_written_whole() -> None:
    write = Writer()
    written = in_pieces(list(range(8)), write, NO_WAITS)
    assert write.calls == [list(range(8))]
    assert (written.results, written.unwritten, written.error) == (
        [i * 10 for i in range(8)],
        [],
        None,
    )


def test_a_failing_piece_is_split_in_halves_taken_in_order() -> None:
    write = Writer(fits=2)
    splits: list[int] = []
    written = in_pieces(list(range(7)), write, NO_WAITS, lambda size, _: splits.append(size))
    assert write.written == list(range(7))  # earlier items first, each once
    assert written.results == [i * 10 for i in range(7)]
    assert written.unwritten == []
    assert splits == [7, 3, 4]
    assert write.calls == [
        [0, 1, 2, 3, 4, 5, 6],
        [0, 1, 2],
        [0],
        [1, 2],
        [3, 4, 5, 6],
        [3, 4],
        [5, 6],
    ]


def test_a_single_item_is_tried_again_after_each_wait() -> None:
    write = Writer(fits=1, flaky={2: 2})
    written = in_pieces([1, 2, 3], write, NO_WAITS)
    assert write.written == [1, 2, 3]
    assert written.unwritten == []


def test_an_item_that_still_fails_alone_stops_the_writing_there() -> None:
    write = Writer(fits=1, flaky={2: 3})
    written = in_pieces([0, 1, 2, 3, 4], write, NO_WAITS)
    assert write.written == [0, 1]
    assert written.results == [0, 10]
    assert written.unwritten == [2, 3, 4]  # 3 and 4 wait for 2: a later run takes all in order
    assert isinstance(written.error, ConnectionError)


def test_an_error_that_is_not_transient_is_raised_at_once() -> None:
    calls: list[Sequence[int]] = []

    def broken(piece: Sequence[int]) -> list[int]:
        calls.append(piece)
        raise ValueError("a bug, not the network")

    with pytest.raises(ValueError, match="a bug"):
        in_pieces([1, 2, 3], broken, NO_WAITS)
    assert len(calls) == 1


def test_nothing_to_write_writes_nothing() -> None:
    write = Writer()
    assert in_pieces([], write, NO_WAITS).results == []
    assert write.calls == []
