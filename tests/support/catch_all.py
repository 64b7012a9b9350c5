"""Fail a test when a reader's or a rule set's catch-all (`docproc.rules.problems.never_raises`)
caught something.

They keep the pipeline going on a bug and log what they caught: a property test that
only checks that nothing raised could never fail, one that watches that log can.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

WATCHED = ("docproc.rules.problems",)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_bug_caught() -> Iterator[None]:
    handler = _Records()
    loggers = [logging.getLogger(name) for name in WATCHED]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert not handler.records, f"a catch-all caught a bug: {handler.records[0].getMessage()}"
