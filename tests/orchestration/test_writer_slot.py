"""The writer slot: a run that holds one writes under it in its tasks, without a second;
a busy API is asked again after a short wait of ours, not Prefect's client's 2 s.

A backfill is one writer whose loads follow one another: it holds one slot of
`docproc-mysql-writers` for its whole run. Taking the slot again for each batch's load
cost about 2 s per batch under a busy event loop (measured at +15 ms S3 latency), so
`database_writer` is re-entrant within a run and the task runs it submits.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import pytest
from prefect import flow, task
from prefect.client.orchestration import SyncPrefectClient, get_client

from tasks import resources, writer_slot
from tests.support.faultproxy import HttpFaultProxy

pytestmark = pytest.mark.usefixtures("prefect_api")


def active_slots() -> int:
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(writer_slot.WRITERS_LIMIT)
    return int(limit.active_slots)


@task
def write(seen: list[int]) -> None:
    with writer_slot.database_writer():
        seen.append(active_slots())


def test_tasks_of_a_run_that_holds_a_slot_write_under_it() -> None:
    seen: list[int] = []

    @flow
    def holding() -> None:
        with writer_slot.database_writer():
            seen.append(active_slots())
            write.submit(seen).wait()  # another thread, the run's context copied
            write(seen)
        seen.append(active_slots())

    resources.reset()
    writer_slot.ensure_limit()
    before = active_slots()
    holding()

    assert seen == [before + 1, before + 1, before + 1, before]


def test_a_task_of_a_run_that_holds_none_takes_and_releases_its_own() -> None:
    seen: list[int] = []

    @flow
    def not_holding() -> None:
        write.submit(seen).wait()
        seen.append(active_slots())

    resources.reset()
    writer_slot.ensure_limit()
    before = active_slots()
    not_holding()

    assert seen == [before + 1, before]


def test_a_busy_slot_api_is_asked_again_here_not_by_prefects_client(prefect_api: str) -> None:
    """Prefect's client would retry the 503 itself, after 2 s: each attempt must reach
    the API from `_asked`, which waits 50 ms first."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    target = urlsplit(prefect_api)
    writer_slot.ensure_limit()
    asked: list[int] = []

    def request(client: SyncPrefectClient) -> int:
        asked.append(1)
        return client.read_global_concurrency_limit_by_name(writer_slot.WRITERS_LIMIT).limit

    with HttpFaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        proxy.fail_next(2, r"^GET .*/v2/concurrency_limits/")
        with temporary_settings({PREFECT_API_URL: proxy.url + "/api"}):
            limit = writer_slot._asked(request)

    assert limit >= 1
    assert len(asked) == 3  # two refused, the third answered
    assert list(proxy.answered_503.values()) == [2]


def test_the_slot_is_released_when_the_write_fails() -> None:
    resources.reset()
    writer_slot.ensure_limit()
    before = active_slots()

    @flow
    def failing() -> None:
        with writer_slot.database_writer():
            raise RuntimeError("MySQL went away")

    with pytest.raises(RuntimeError):
        failing()

    assert active_slots() == before


def test_without_prefects_private_helpers_the_public_slot_is_taken_and_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback of another Prefect (tests/unit/test_writer_slot_guard.py) holds a real
    slot of the same limit, re-entrant as ours."""
    seen: list[int] = []

    @flow
    def holding() -> None:
        with writer_slot.database_writer():
            seen.append(active_slots())
            write(seen)
        seen.append(active_slots())

    monkeypatch.setattr(writer_slot, "_private_helpers", lambda: None)
    monkeypatch.setattr(writer_slot, "_acquire", lambda: pytest.fail("the private path"))
    resources.reset()
    writer_slot.ensure_limit()
    before = active_slots()
    holding()

    assert seen == [before + 1, before + 1, before]


def test_a_write_asks_for_its_slot_at_once_and_makes_a_missing_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No read of the limit before each write (a round trip before every run's load); a
    limit deleted in the UI is made again by the write that finds it missing."""
    from prefect.exceptions import ObjectNotFound

    held: list[bool] = []

    @flow
    def writing() -> None:
        with writer_slot.database_writer():
            held.append(True)

    resources.reset()
    writer_slot.ensure_limit()
    writing()
    reads: list[str] = []
    read = SyncPrefectClient.read_global_concurrency_limit_by_name

    def recorded(self: SyncPrefectClient, name: str) -> Any:
        reads.append(name)
        return read(self, name)

    monkeypatch.setattr(SyncPrefectClient, "read_global_concurrency_limit_by_name", recorded)
    writer_slot.ensure_limit.cache_clear()  # as in each served run's new process
    writing()
    assert reads == []

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.delete_global_concurrency_limit_by_name(writer_slot.WRITERS_LIMIT)
    writing()
    assert reads == [writer_slot.WRITERS_LIMIT]  # found missing, then made
    monkeypatch.undo()
    assert held == [True] * 3
    assert active_slots() == 0  # made, and the slot taken from it given back
