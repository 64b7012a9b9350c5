"""What every reader and rule set shares: one problem log, bounded, and one catch-all.

A hostile document can break a rule on each of a million lines; a report needs examples
and a count, not a copy of them all (SPEC section 3: at most 20 details per reason code).
And a bug in a reader or a rule must not stop the pipeline: the document is rejected
instead, and the bug is logged where people and tests look (`LOGGER`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

from docproc.models import Problem, Reason

P = ParamSpec("P")
R = TypeVar("R")

# The one logger a caught bug goes to: the tests' watcher listens here.
LOGGER = logging.getLogger(__name__)


class ProblemLog:
    """The problems of one document in the order found, with at most `MAX_EXAMPLES` of each
    reason kept and a count of the rest."""

    MAX_EXAMPLES = 20
    __slots__ = ("_counts", "_dropped", "_kept")

    def __init__(self, problems: Iterable[Problem] = ()) -> None:
        self._kept: list[Problem] = []
        self._counts: dict[Reason, int] = {}
        self._dropped: dict[Reason, int] = {}
        for problem in problems:
            self.add(problem.reason, problem.detail)

    def __bool__(self) -> bool:
        return bool(self._kept)

    def __contains__(self, reason: Reason) -> bool:
        return bool(self._counts) and reason in self._counts  # hashing an Enum is slow

    def add(self, reason: Reason, detail: str) -> None:
        count = self._counts.get(reason, 0) + 1
        self._counts[reason] = count
        if count <= self.MAX_EXAMPLES:
            self._kept.append(Problem(reason, detail))
        else:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1

    def result(self) -> tuple[Problem, ...]:
        """The problems kept, then one line per reason that had more."""
        more = [
            Problem(reason, f"... and {count} more {reason} problems like these")
            for reason, count in self._dropped.items()
        ]
        return (*self._kept, *more)


def never_raises(
    on_bug: Callable[..., R],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a reader or a rule set total: an exception it raises is logged (with its
    traceback, on `LOGGER`) and `on_bug(exc, *args, **kwargs)` is returned instead."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                LOGGER.exception(
                    "%s.%s caught %r; the document is rejected", fn.__module__, fn.__name__, exc
                )
                return on_bug(exc, *args, **kwargs)

        return guarded

    return wrap
