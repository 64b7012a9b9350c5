"""The slot of the global limit `docproc-mysql-writers` every MySQL write runs under.

Taken and given back through the same API calls as Prefect's own `concurrency()`
(a slot with a lease, renewed while held, the same acquired/released events), with
the waits of our own on a busy API. On its default SQLite, the local server answers
503 "database is locked" to a slot request whenever another write lands between the
request's read and its update, and Prefect's client then waits 2 s before it asks
again (even when told to make no retries: it waits, then gives up): measured, that
was most of a single upload's 3.6 s from upload to CSV. Asked again after 50 ms, the
lock has nearly always gone.

The acquired/released events and the lease renewal are Prefect's private helpers
(`prefect.concurrency._events`, `._leases`), as its own `concurrency()` calls them. On a
Prefect other than WRITTEN_FOR, or one without them, writes take their slot through the
public `concurrency()` instead (its client's 2 s waits on a busy API), and we say so:
an upgrade costs latency, never a write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from uuid import UUID

import httpx

from docproc.errors import raise_if_busy, retried
from docproc.settings import get_settings

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.client.schemas.responses import (
        ConcurrencyLimitWithLeaseResponse,
        MinimalConcurrencyLimitResponse,
    )
    from prefect.events import Event

WRITERS_LIMIT = "docproc-mysql-writers"

# A slot whose release was lost (a busy API, a killed run) is free again this long after
# it was last renewed; the server's shortest lease. A load holds its slot for milliseconds.
LEASE_SECONDS = 60

# Waits before asking a busy API again, each stretched by up to half again: about 13 s in
# all, then the error goes to the caller (a task retries it; a flow body fails).
BUSY_RETRY_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)

# Whether this context (a run, and the task runs it submits, which copy its context)
# already holds a writer slot.
_holding: ContextVar[bool] = ContextVar("docproc_holding_writer_slot", default=False)

# The Prefect whose private concurrency helpers `_held` calls (see the module's docstring).
WRITTEN_FOR = "3.9.1"

T = TypeVar("T")

logger = logging.getLogger(__name__)


class _PrivateHelpers(NamedTuple):
    """What `_held` calls of Prefect's private modules."""

    emit_acquired: Callable[[list[MinimalConcurrencyLimitResponse], int], dict[UUID, Event | None]]
    emit_released: Callable[
        [list[MinimalConcurrencyLimitResponse], int, dict[UUID, Event | None]], None
    ]
    maintain_lease: Callable[..., AbstractContextManager[None]]


def forget() -> None:
    """Forget the limit and the client, so that another API takes effect (tests, demo)."""
    ensure_limit.cache_clear()
    _impatient_client.cache_clear()


@lru_cache
def ensure_limit() -> None:
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
                    GlobalConcurrencyLimitCreate(
                        name=WRITERS_LIMIT, limit=get_settings().db_writers
                    )
                )


@contextmanager
def database_writer() -> Iterator[None]:
    """Hold one slot of the writers limit, across all runs, while MySQL is written.

    Re-entrant: a run that holds a slot for its whole life (a backfill, one writer
    whose loads follow one another) lets its loads write under it, rather than taking
    the slot again per batch.

    A busy API must not cost a document: a refused request is asked again (backfill and
    batch runs take the slot in the flow body, where no task retries it), then raises an
    error `is_transient` knows, so a task retries it; a failed lease renewal only warns;
    a release lost after the write only warns too: the rows are in, and the lease frees
    the slot.
    """
    if _holding.get():
        yield
        return
    private = _private_helpers()
    if private is None:
        ensure_limit()
        slot = _prefects_own_slot()
    else:
        # No read of the limit first: one round trip less before every run's load, and a
        # missing limit comes back without slots, is made and asked again (`_acquire`).
        slot = _held(_acquire(), private)
    held = _holding.set(True)
    try:
        with slot:
            yield
    finally:
        _holding.reset(held)


@lru_cache
def _private_helpers() -> _PrivateHelpers | None:
    """Prefect's private helpers on the Prefect they were written for; None (said once per
    process) on any other, whose helpers may differ or be gone."""
    import prefect

    if prefect.__version__ != WRITTEN_FOR:
        logger.warning(
            "Prefect %s is not %s, whose private concurrency helpers tasks/writer_slot.py "
            "calls: database writes take their %s slot through Prefect's own concurrency()",
            prefect.__version__,
            WRITTEN_FOR,
            WRITERS_LIMIT,
        )
        return None
    try:
        from prefect.concurrency._events import (
            emit_concurrency_acquisition_events,
            emit_concurrency_release_events,
        )
        from prefect.concurrency._leases import maintain_concurrency_lease
    except ImportError as exc:
        logger.warning(
            "Prefect %s lacks a private concurrency helper tasks/writer_slot.py calls (%s): "
            "database writes take their %s slot through Prefect's own concurrency()",
            prefect.__version__,
            exc,
            WRITERS_LIMIT,
        )
        return None
    return _PrivateHelpers(
        emit_concurrency_acquisition_events,
        emit_concurrency_release_events,
        maintain_concurrency_lease,
    )


def _prefects_own_slot() -> AbstractContextManager[None]:
    """The slot through Prefect's public API: the same slot, lease and events, without
    our short waits on a busy API."""
    from prefect.concurrency.sync import concurrency

    return concurrency(
        WRITERS_LIMIT,
        occupy=1,
        lease_duration=LEASE_SECONDS,
        holder=_holder(),
        raise_on_lease_renewal_failure=False,
    )


@contextmanager
def _held(lease: ConcurrencyLimitWithLeaseResponse, private: _PrivateHelpers) -> Iterator[None]:
    from prefect import get_run_logger

    events = private.emit_acquired(lease.limits, 1)
    try:
        with private.maintain_lease(
            lease.lease_id, LEASE_SECONDS, raise_on_lease_renewal_failure=False
        ):
            yield
    finally:
        try:
            _asked(lambda client: client.release_concurrency_slots_with_lease(lease.lease_id))
        except Exception as exc:
            get_run_logger().warning(
                "could not release a %s slot (%s): its lease frees it within %d s",
                WRITERS_LIMIT,
                exc,
                LEASE_SECONDS,
            )
        else:
            private.emit_released(lease.limits, 1, events)


def _acquire() -> ConcurrencyLimitWithLeaseResponse:
    """One slot, waiting as the server says while all are taken (their leases bound it)."""
    from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse

    holder = _holder()
    while True:
        try:
            response = _asked(
                lambda client: client.increment_concurrency_slots_with_lease(
                    names=[WRITERS_LIMIT], slots=1, mode="concurrency",
                    lease_duration=LEASE_SECONDS, holder=holder,
                )
            )  # fmt: skip
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != httpx.codes.LOCKED:
                raise
            time.sleep(float(exc.response.headers.get("Retry-After", 1)))
            continue
        lease = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
        if lease.limits:
            return lease
        # Deleted in the UI since this process made sure of it: made again, asked again.
        ensure_limit.cache_clear()
        ensure_limit()


def _asked(request: Callable[[SyncPrefectClient], T]) -> T:
    """`request` on a client that does not wait out a busy API, asked again here after
    each of BUSY_RETRY_SECONDS."""
    from prefect.settings import PREFECT_API_URL

    return retried(
        lambda: request(_impatient_client(PREFECT_API_URL.value())), BUSY_RETRY_SECONDS, _warn
    )


def _warn(exc: BaseException, wait: float) -> None:
    """A line for the long waits; the short ones are the everyday lock."""
    from prefect import get_run_logger

    if wait >= 1:
        get_run_logger().warning(
            "%s: the Prefect API is busy (%s), again in about %.0f s", WRITERS_LIMIT, exc, wait
        )


@lru_cache
def _impatient_client(api_url: str | None) -> SyncPrefectClient:
    """A client of this process for the API at `api_url` (the cache key; `get_client`
    reads the same setting), open until the process ends: a busy answer raises at once,
    before Prefect's client would wait 2 s to retry it."""
    from prefect.client.orchestration import get_client

    hooks = {"response": [raise_if_busy]}
    return get_client(sync_client=True, httpx_settings={"event_hooks": hooks}).__enter__()


def _holder() -> ConcurrencyLeaseHolder | None:
    """The run that holds the slot, shown with its lease in the UI."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.context import FlowRunContext, TaskRunContext

    if (task_ctx := TaskRunContext.get()) is not None:
        return ConcurrencyLeaseHolder(type="task_run", id=task_ctx.task_run.id)
    if (flow_ctx := FlowRunContext.get()) is not None and flow_ctx.flow_run is not None:
        return ConcurrencyLeaseHolder(type="flow_run", id=flow_ctx.flow_run.id)
    return None
