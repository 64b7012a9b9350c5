"""What every docproc task shares: retries of transient faults only, with backoff and jitter."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task, exponential_backoff

from docproc.errors import is_transient


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a raised network, throttling or lost-connection error; never a rejection."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


# Retries after 1 s, 2 s, 4 s, each stretched by up to half again so that many runs
# hit by one outage do not come back in step. No result caching: hashing a batch's
# documents to build cache keys would cost more than the step itself.
TASK_DEFAULTS: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=1),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}
