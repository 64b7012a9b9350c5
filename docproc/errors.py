"""Which failures are worth another attempt: the one rule every retry in docproc follows."""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


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


def is_transient(exc: BaseException) -> bool:
    """True for network trouble, throttling, 5xx and lost or busy database connections."""
    if isinstance(exc, DocprocError):
        return False
    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _TRANSIENT_S3_CODES or status >= 500
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        if isinstance(exc, OperationalError):
            args: tuple[object, ...] = getattr(exc.orig, "args", ())
            return bool(args) and args[0] in _TRANSIENT_MYSQL_CODES
    return False
