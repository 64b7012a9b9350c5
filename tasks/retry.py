"""The retry policy every docproc task shares: transient faults only, with backoff and jitter."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task, exponential_backoff

from docproc.errors import is_transient


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a raised network, throttling or lost-connection error; never a rejection."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


# 1 s, 2 s, 4 s, each stretched by up to half again so that many runs hit by one
# outage do not come back in step.
RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=1),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}
