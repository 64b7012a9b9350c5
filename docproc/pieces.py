"""A batch written in smaller pieces when its one transaction cannot get through.

A backfill batch is loaded in one transaction: fast while connections hold, but on a
flapping network (every connection cut after a short lifetime) a transaction holding
sixty invoices' locks and their CSV PUTs outlives its connection every time, and
retrying it whole fails the same way. Halves, quarters, ... down to one document each
make progress whenever one document's transaction can.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from docproc.errors import is_transient, retried

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Written(Generic[T, R]):
    """What the pieces wrote, and what they could not: the item that failed alone with
    its `error`, and every item after it."""

    results: list[R] = field(default_factory=list)
    unwritten: list[T] = field(default_factory=list)
    error: BaseException | None = None


def in_pieces(
    items: Sequence[T],
    write: Callable[[Sequence[T]], Sequence[R]],
    waits: Sequence[float],
    on_split: Callable[[int, BaseException], None] | None = None,
) -> Written[T, R]:
    """`write(items)` as one piece; a piece that fails with a transient error is written
    again as its two halves, each its own call, the earlier half first, down to single
    items, each tried again after each of `waits`.

    `write` must leave nothing of a piece that fails (one transaction) and be safe to
    repeat. The items are taken in the order given, as if one after another: an item
    that still fails alone stops the writing, and it and every later item come back
    unwritten, for a later run to take in the same order. Any other error is raised.
    `on_split` hears of each piece split: its size and the error.
    """
    written: Written[T, R] = Written()
    todo = [list(items)] if items else []  # pieces still to write, the next one last
    while todo:
        piece = todo.pop()
        try:
            if len(piece) == 1:
                written.results += retried(partial(write, piece), waits)
            else:
                written.results += write(piece)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if len(piece) == 1:
                written.unwritten = piece + [item for later in reversed(todo) for item in later]
                written.error = exc
                return written
            if on_split is not None:
                on_split(len(piece), exc)
            half = len(piece) // 2
            todo += [piece[half:], piece[:half]]
    return written
