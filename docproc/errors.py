"""Which failures are worth another attempt: the one rule every retry in docproc follows."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import httpx
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

T = TypeVar("T")


class DocprocError(Exception):
    """A permanent, user-facing failure: printed as one line, never retried."""


class ObjectMissing(DocprocError):
    """The bucket or the object does not exist."""


class Superseded(DocprocError):
    """The object was overwritten after the event named it: its newer version has its own event."""


# S3 error codes that mean "try again later" rather than "this request is wrong".
_TRANSIENT_S3_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)
# MySQL client/server codes: can't connect, server gone, lost connection, lock wait, deadlock.
_TRANSIENT_MYSQL_CODES = frozenset({1040, 1205, 1213, 2003, 2006, 2013, 2055})
# HTTP answers that mean "busy, ask again": a timeout, throttling and server errors. The
# Prefect server answers 503 when its SQLite database is locked.
_TRANSIENT_HTTP_STATUS = frozenset({408, 429})


def is_transient(exc: BaseException) -> bool:
    """True for network trouble, throttling, 5xx and lost or busy database connections.

    That holds for S3, MySQL and the Prefect API alike (over httpx), and for an
    error raised *from* one of them: Prefect's `ConcurrencySlotAcquisitionError`
    wraps the 503 of a busy server that way.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        current = current.__cause__
    return False


def _verdict(exc: BaseException) -> bool | None:
    """Transient or not when `exc` itself tells; None when only its cause can."""
    if isinstance(exc, DocprocError):
        return False
    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, httpx.TransportError):  # connect, read, write, timeouts, protocol
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return _busy_status(exc.response.status_code)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _TRANSIENT_S3_CODES or status >= 500
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        if isinstance(exc, OperationalError):
            if isinstance(exc.orig, sqlite3.OperationalError):
                return _sqlite_busy(exc.orig)
            args: tuple[object, ...] = getattr(exc.orig, "args", ())
            return bool(args) and args[0] in _TRANSIENT_MYSQL_CODES
        return False
    if isinstance(exc, sqlite3.OperationalError):
        return _sqlite_busy(exc)
    return None


def _sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked": another writer holds it, not a broken statement."""
    return "locked" in str(exc) or getattr(exc, "sqlite_errorname", "") in {
        "SQLITE_BUSY",
        "SQLITE_BUSY_SNAPSHOT",
        "SQLITE_LOCKED",
    }


def _busy_status(status: int) -> bool:
    return status in _TRANSIENT_HTTP_STATUS or status >= 500


def raise_if_busy(response: httpx.Response) -> None:
    """An httpx response hook: a busy answer raises at once, for the caller to retry on
    its own schedule. Prefect's client would wait 2 s first (even told to make no
    retries: it waits, then gives up), while a locked SQLite is free again in ms."""
    if _busy_status(response.status_code):
        response.raise_for_status()


def retried(
    call: Callable[[], T],
    waits: Sequence[float],
    on_wait: Callable[[BaseException, float], None] | None = None,
    retry_if: Callable[[BaseException], bool] = is_transient,
) -> T:
    """`call()`, again after each of `waits` (each stretched by up to half again, so that
    callers spread out) while it fails with an error `retry_if` accepts (a transient one
    unless told); then its error is raised. `on_wait` hears of each error and the wait
    before the next attempt."""
    for wait in (*waits, None):
        try:
            return call()
        except Exception as exc:
            if wait is None or not retry_if(exc):
                raise
            if on_wait is not None:
                on_wait(exc, wait)
            time.sleep(wait * (1 + random.random() / 2))  # noqa: S311 (jitter, not a secret)
    raise AssertionError("unreachable")
