"""The runs the webhook creates go straight to `serve`'s runner (deployments/wake.py).

A runner of this process, as `serve` builds it (forkserver starts), serves a probe flow
with the parameters of `process-invoice`; it polls once an hour unless a test says
otherwise, so a run that starts at all was started by the wake. Each probe run appends
its pid to a file of its own: the file's lines are the run's starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.runner import Runner, _starter_direct
from prefect.states import Cancelling

from deployments import forkserver
from deployments.handover import PrefectHandOver
from deployments.wake import RunnerWake
from docproc.models import ObjectRef
from tests.support.orchestration import wait_for

pytestmark = pytest.mark.usefixtures("prefect_api")

PROBE_DIR = "DOCPROC_TEST_WAKE_DIR"
DEPLOYMENT = "wake-probe/wake-probe"
HOUR = 3600.0
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@flow(name="wake-probe")
def wake_probe(bucket: str, key: str, etag: str = "") -> None:
    """Record this start; with etag `hold`, stay running until the test ends the run."""
    starts = Path(os.environ[PROBE_DIR]) / f"{Path(key).name}.starts"
    with starts.open("a") as out:
        out.write(f"{os.getpid()}\n")
    if etag == "hold":
        time.sleep(120)


class Served:
    """A runner started in a thread of this process, with the hand-over that wakes it."""

    def __init__(self, runner: Runner, starts: Path) -> None:
        self.runner = runner
        self.wake = RunnerWake(runner)
        self.hand_over = PrefectHandOver(invoice_deployment=DEPLOYMENT, on_created=self.wake)
        self.starts = starts

    def pids(self, key: str) -> list[int]:
        path = self.starts / f"{Path(key).name}.starts"
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def submitting(self) -> set[uuid.UUID]:
        ids: set[uuid.UUID] = self.runner._scheduled_run_poller._submitting_flow_run_ids
        return ids


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], Served]]:
    """Start the runner polling every `poll_seconds`; stopped, its runs with it, after."""
    monkeypatch.setenv(PROBE_DIR, str(tmp_path))
    forkserver.start()
    monkeypatch.setattr(
        _starter_direct, "run_flow_in_subprocess", forkserver.run_flow_in_forkserver
    )
    started: list[tuple[Served, threading.Thread]] = []

    def start(poll_seconds: float) -> Served:
        runner = Runner(pause_on_shutdown=False, query_seconds=poll_seconds)
        runner.add_flow(wake_probe, name="wake-probe")
        # In this thread's context: Prefect's settings (the session's API) are a contextvar.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(asyncio.run, runner.start()), daemon=True
        )
        thread.start()
        wait_for(lambda: getattr(runner, "_scheduled_run_poller", None) is not None, 60)
        wait_for(lambda: runner._scheduled_run_poller.last_polled is not None, 60)
        served = Served(runner, tmp_path)
        started.append((served, thread))
        return served

    yield start
    for served, thread in started:
        served.hand_over.close()
        assert served.runner._loop is not None
        asyncio.run_coroutine_threadsafe(served.runner.astop(), served.runner._loop).result(60)
        thread.join(timeout=60)


def state_names(run_id: uuid.UUID) -> list[str]:
    with get_client(sync_client=True) as client:
        return [str(s.name) for s in client.read_flow_run_states(run_id)]


def state_of(run_id: uuid.UUID) -> str:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    assert state is not None
    return state.type.value


def wait_until(run_id: uuid.UUID, wanted: str, timeout: float = 60) -> None:
    """Until the run is in state `wanted`; fails at once on another final state."""

    def reached() -> bool:
        state = state_of(run_id)
        assert state == wanted or state not in FINAL, f"{state}, not {wanted}"
        return state == wanted

    wait_for(reached, timeout)


def handed_over(served: Served, etag: str = "") -> tuple[str, uuid.UUID]:
    """An object handed over as the webhook does; its key and its run's id."""
    key = f"in/{uuid.uuid4().hex}.txt"
    served.hand_over([ObjectRef("wake-bucket", key, etag)])
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        [run] = [
            r
            for r in client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=key)), limit=10
            )
            if r.deployment_id == deployment.id and r.parameters.get("key") == key
        ]
    return key, run.id


def test_a_handed_over_run_starts_without_waiting_for_the_poll(
    serve: Callable[[float], Served],
) -> None:
    served = serve(HOUR)
    key, run_id = handed_over(served)
    wait_until(run_id, "COMPLETED")
    assert len(served.pids(key)) == 1
    names = state_names(run_id)
    assert names.count("Running") == 1
    assert "Pending" in names  # the runner's own claim, as when its poll finds a run


def test_a_run_woken_many_times_and_found_by_the_poll_starts_once(
    serve: Callable[[float], Served],
) -> None:
    """The wake and a poll every 0.1 s race for the same run, the wake five times over."""
    served = serve(0.1)
    key = f"in/{uuid.uuid4().hex}.txt"
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"bucket": "wake-bucket", "key": key, "etag": ""}
        )
    futures: list[Any] = [served.wake(run) for _ in range(5)]
    for future in futures:
        assert future is not None
        future.result(30)
    wait_until(run.id, "COMPLETED")
    # Long after it ended, the run as it was created (Scheduled) is woken once more.
    late = served.wake(run)
    assert late is not None
    late.result(30)
    wait_for(lambda: run.id not in served.submitting(), 30)
    assert len(served.pids(key)) == 1
    assert state_names(run.id).count("Running") == 1
    assert state_of(run.id) == "COMPLETED"


def test_a_woken_run_can_be_cancelled(serve: Callable[[float], Served]) -> None:
    served = serve(HOUR)
    key, run_id = handed_over(served, etag="hold")
    wait_for(lambda: state_of(run_id) == "RUNNING" and served.pids(key), 60)
    [pid] = served.pids(key)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelling(), force=True)
    wait_until(run_id, "CANCELLED")
    wait_for(lambda: not _alive(pid), 30)


def test_a_woken_run_whose_process_dies_is_reported_crashed(
    serve: Callable[[float], Served],
) -> None:
    served = serve(HOUR)
    key, run_id = handed_over(served, etag="hold")
    wait_for(lambda: state_of(run_id) == "RUNNING" and served.pids(key), 60)
    [pid] = served.pids(key)
    os.kill(pid, signal.SIGKILL)
    wait_until(run_id, "CRASHED")


def test_a_prefect_it_was_not_written_for_leaves_runs_to_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prefect

    monkeypatch.setattr(prefect, "__version__", "3.10.0")
    runner = Runner(pause_on_shutdown=False)
    wake = RunnerWake(runner)
    assert wake.enabled is False
    assert wake(object()) is None  # type: ignore[arg-type]


def test_a_run_created_before_the_runner_started_is_left_to_its_first_poll() -> None:
    """`serve` answers SNS before its runner has started: such a run is not lost, the
    runner's first poll finds it."""
    runner = Runner(pause_on_shutdown=False)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(wake_probe, parameters={"bucket": "b", "key": "k"})
    try:
        assert RunnerWake(runner)(run) is None
    finally:
        with get_client(sync_client=True) as client:
            client.delete_flow_run(run.id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers: the forkserver reaps its children only now and then.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
