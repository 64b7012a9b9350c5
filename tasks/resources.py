"""Clients shared by the tasks of one process, built on first use from the settings."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from sqlalchemy import Engine

from docproc import schema, storage
from docproc.errors import is_transient
from docproc.loader import make_engine
from docproc.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def settings() -> Settings:
    return get_settings()


@lru_cache
def engine() -> Engine:
    """The database, with its tables: a first run needs no separate `init-db`."""
    eng = make_engine(settings().database_url.get_secret_value())
    schema.create_all(eng)
    return eng


def aws_session() -> tuple[boto3.session.Session | None, dict[str, Any]]:
    """The `AwsCredentials` block named in the settings, whole: a session (credentials,
    region, profile, assumed role) and its client parameters (endpoint, TLS verification,
    botocore config), for `docproc.aws.client`.

    None and no parameters leave everything to boto3's own chain and `AWS_ENDPOINT_URL`.
    """
    name = settings().aws_credentials_block
    if not name:
        return None, {}
    from prefect_aws import AwsCredentials

    creds: Any = AwsCredentials.load(name)
    return creds.get_boto3_session(), creds.aws_client_parameters.get_params_override()


@lru_cache
def s3() -> S3Client:
    session, client_params = aws_session()
    config = settings()
    # Room for every request of the batches a backfill keeps in flight at once.
    return storage.s3_client(
        session,
        client_params=client_params,
        max_attempts=config.s3_max_attempts,
        max_pool_connections=config.s3_concurrency * 4,
    )


def reset() -> None:
    """Forget settings and clients, so that changed variables take effect (tests, demo)."""
    get_settings.cache_clear()
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    s3.cache_clear()
    _ensure_writers_limit.cache_clear()


WRITERS_LIMIT = "docproc-mysql-writers"


@lru_cache
def _ensure_writers_limit() -> None:
    """Create the limit with DOCPROC_DB_WRITERS slots if missing; a size set in the UI stays."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WRITERS_LIMIT)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another process was first
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=WRITERS_LIMIT, limit=settings().db_writers)
                )


# A slot whose release was lost (a busy API) is free again this long after it was taken;
# the server's shortest lease. A load holds its slot for milliseconds.
WRITER_LEASE_SECONDS = 60


# Whether this context (a run, and the task runs it submits, which copy its context)
# already holds a writer slot.
_holding: ContextVar[bool] = ContextVar("docproc_holding_writer_slot", default=False)


@contextmanager
def database_writer() -> Iterator[None]:
    """Hold one slot of the global limit on concurrent MySQL writers, across all runs.

    Re-entrant: a run that holds a slot for its whole life (a backfill, one writer
    whose loads follow one another) lets its loads write under it, rather than taking
    the slot again per batch, which under a busy event loop cost seconds each time.

    A busy Prefect API must not cost a document: a failed acquisition is tried again
    here (backfill and batch runs take it in the flow body, where no task retries it),
    then raises an error `is_transient` knows, so a task retries it; a failed lease
    renewal only warns; a release lost after the write only warns too: the rows are in,
    and the lease frees the slot.
    """
    from prefect import get_run_logger

    if _holding.get():
        yield
        return
    _ensure_writers_limit()
    slot = _acquire_writer_slot()
    written = False
    held = _holding.set(True)
    try:
        with slot:
            yield
            written = True
    except Exception as exc:
        if not written:
            raise
        get_run_logger().warning(
            "could not release a %s slot (%s): its lease frees it within %d s",
            WRITERS_LIMIT,
            exc,
            WRITER_LEASE_SECONDS,
        )
    finally:
        _holding.reset(held)


# Waits before acquiring a writer slot again when the API is busy, each stretched by up
# to half again: where the slot is taken in a flow body (backfill and batch runs) no task
# retries it.
SLOT_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0)


def _acquire_writer_slot() -> ExitStack:
    """One slot of the writers limit, held by the returned stack until it closes."""
    from prefect import get_run_logger
    from prefect.concurrency.sync import concurrency

    for wait in (*SLOT_RETRY_SECONDS, None):
        stack = ExitStack()
        try:
            stack.enter_context(
                concurrency(
                    WRITERS_LIMIT,
                    occupy=1,
                    strict=True,
                    lease_duration=WRITER_LEASE_SECONDS,
                    raise_on_lease_renewal_failure=False,
                )
            )
        except Exception as exc:
            if wait is None or not is_transient(exc):
                raise
            get_run_logger().warning(
                "could not take a %s slot (%s): again in about %.0f s", WRITERS_LIMIT, exc, wait
            )
            time.sleep(wait * (1 + random.random() / 2))  # noqa: S311 (jitter, not a secret)
            continue
        return stack
    raise AssertionError("unreachable")
