"""`is_transient`: the one rule every retry follows, for S3, MySQL, SQLite and the Prefect API."""

from __future__ import annotations

import sqlite3

import httpx
import pymysql
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.exceptions import PrefectHTTPStatusError
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from docproc.errors import (
    DocprocError,
    ObjectMissing,
    Superseded,
    is_transient,
    raise_if_busy,
    retried,
)

_REQUEST = httpx.Request("POST", "http://127.0.0.1:4200/api/v2/concurrency_limits/increment")


def http_status(code: int) -> httpx.HTTPStatusError:
    response = httpx.Response(code, request=_REQUEST, json={"exception_message": "x"})
    return httpx.HTTPStatusError(f"{code}", request=_REQUEST, response=response)


def s3_error(code: str, status: int) -> ClientError:
    meta = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(meta, "GetObject")  # type: ignore[arg-type]


def caused_by(exc: BaseException, cause: BaseException) -> BaseException:
    """`exc` raised `from cause`, as a wrapper raises it."""
    try:
        raise exc from cause
    except BaseException as raised:
        return raised


def slot_error(cause: BaseException) -> BaseException:
    names = ["docproc-mysql-writers"]
    return caused_by(ConcurrencySlotAcquisitionError(f"Unable to acquire on {names}"), cause)


def mysql(code: int) -> OperationalError:
    return OperationalError("INSERT INTO invoices", {}, pymysql.err.OperationalError(code, "x"))


CASES: list[tuple[str, BaseException, bool]] = [
    # the pipeline's own verdicts are final
    ("a DocprocError", DocprocError("bad"), False),
    ("a missing object", ObjectMissing("no such key"), False),
    ("a superseded version", Superseded("newer"), False),
    ("a plain bug", ValueError("bad value"), False),
    ("a KeyError", KeyError("invoice_id"), False),
    # the network
    ("a reset connection", ConnectionResetError(), True),
    ("a timeout", TimeoutError(), True),
    ("boto3 cannot connect", EndpointConnectionError(endpoint_url="http://s3"), True),
    ("boto3 read timeout", ReadTimeoutError(endpoint_url="http://s3"), True),
    # S3 answers
    ("S3 SlowDown", s3_error("SlowDown", 503), True),
    ("S3 InternalError", s3_error("InternalError", 500), True),
    ("S3 NoSuchKey", s3_error("NoSuchKey", 404), False),
    ("S3 AccessDenied", s3_error("AccessDenied", 403), False),
    # MySQL
    ("MySQL lost connection", mysql(2013), True),
    ("MySQL deadlock", mysql(1213), True),
    ("MySQL syntax error", mysql(1064), False),
    (
        "a duplicate key",
        IntegrityError("INSERT", {}, pymysql.err.IntegrityError(1062, "dup")),
        False,
    ),
    (
        "a missing table",
        ProgrammingError("SELECT", {}, pymysql.err.ProgrammingError(1146, "no table")),
        False,
    ),
    # SQLite, directly or through SQLAlchemy
    ("SQLite database is locked", sqlite3.OperationalError("database is locked"), True),
    (
        "SQLite locked through SQLAlchemy",
        OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked")),
        True,
    ),
    ("SQLite no such table", sqlite3.OperationalError("no such table: documents"), False),
    # the Prefect API over httpx
    ("httpx cannot connect", httpx.ConnectError("refused", request=_REQUEST), True),
    ("httpx read timeout", httpx.ReadTimeout("slow", request=_REQUEST), True),
    ("httpx connection closed", httpx.RemoteProtocolError("closed", request=_REQUEST), True),
    ("HTTP 503 (the server's SQLite locked)", http_status(503), True),
    ("HTTP 502", http_status(502), True),
    ("HTTP 500", http_status(500), True),
    ("HTTP 429", http_status(429), True),
    ("HTTP 408", http_status(408), True),
    ("HTTP 404", http_status(404), False),
    ("HTTP 409", http_status(409), False),
    ("HTTP 422", http_status(422), False),
    ("HTTP 401", http_status(401), False),
    ("Prefect's 503", PrefectHTTPStatusError.from_httpx_error(http_status(503)), True),
    ("Prefect's 422", PrefectHTTPStatusError.from_httpx_error(http_status(422)), False),
    # wrapped: the lost document
    ("no slot: the API answered 503", slot_error(http_status(503)), True),
    (
        "no slot: the API answered 503 (Prefect)",
        slot_error(PrefectHTTPStatusError.from_httpx_error(http_status(503))),
        True,
    ),
    ("no slot: the API timed out", slot_error(httpx.ReadTimeout("slow", request=_REQUEST)), True),
    ("no slot: the API answered 422", slot_error(http_status(422)), False),
    ("no slot: the limit is missing", ConcurrencySlotAcquisitionError("must be created"), False),
    ("a bug raised from a timeout", caused_by(RuntimeError("x"), TimeoutError()), True),
    ("a DocprocError raised from a timeout", caused_by(DocprocError("x"), TimeoutError()), False),
    ("a bug raised from a bug", caused_by(RuntimeError("x"), ValueError("y")), False),
]


@pytest.mark.parametrize(("exc", "transient"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_cycle_of_causes_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert is_transient(first) is False


def test_retried_asks_again_after_each_wait_while_the_error_is_transient() -> None:
    answers: list[Exception | str] = [http_status(503), http_status(503), "done"]
    heard: list[tuple[str, float]] = []  # (error, wait)

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    done = retried(call, (0.0, 0.001, 5.0), lambda exc, wait: heard.append((str(exc), wait)))

    assert done == "done"
    assert heard == [("503", 0.0), ("503", 0.001)]


def test_retried_raises_at_once_on_a_permanent_error_and_after_the_last_wait() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise http_status(404)

    with pytest.raises(httpx.HTTPStatusError):
        retried(refused, (0.0, 0.0))
    assert len(calls) == 1

    def busy() -> None:
        calls.append(2)
        raise http_status(503)

    with pytest.raises(httpx.HTTPStatusError):
        retried(busy, (0.0, 0.0))
    assert calls == [1, 2, 2, 2]


def test_raise_if_busy_raises_the_answers_is_transient_retries_and_only_those() -> None:
    for code in (408, 429, 500, 503):
        response = httpx.Response(code, request=_REQUEST)
        with pytest.raises(httpx.HTTPStatusError) as raised:
            raise_if_busy(response)
        assert is_transient(raised.value)
    for code in (200, 404, 409, 423):
        raise_if_busy(httpx.Response(code, request=_REQUEST))
