"""The writer slot: a run that holds one writes under it in its tasks, without a second.

A backfill is one writer whose loads follow one another: it holds one slot of
`docproc-mysql-writers` for its whole run. Taking the slot again for each batch's load
cost about 2 s per batch under a busy event loop (measured at +15 ms S3 latency), so
`database_writer` is re-entrant within a run and the task runs it submits.
"""

from __future__ import annotations

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client

from tasks import resources

pytestmark = pytest.mark.usefixtures("prefect_api")


def active_slots() -> int:
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(resources.WRITERS_LIMIT)
    return int(limit.active_slots)


@task
def write(seen: list[int]) -> None:
    with resources.database_writer():
        seen.append(active_slots())


def test_tasks_of_a_run_that_holds_a_slot_write_under_it() -> None:
    seen: list[int] = []

    @flow
    def holding() -> None:
        with resources.database_writer():
            seen.append(active_slots())
            write.submit(seen).wait()  # another thread, the run's context copied
            write(seen)
        seen.append(active_slots())

    resources.reset()
    resources._ensure_writers_limit()
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
    resources._ensure_writers_limit()
    before = active_slots()
    not_holding()

    assert seen == [before + 1, before]
