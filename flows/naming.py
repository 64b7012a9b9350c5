"""What the Prefect UI shows of a run: its name and its artifacts, written best effort.

The rows and the run's state are the record; a name or an artifact the API is too busy
to take costs a warning line, never the load (issue: a burst against a busy API).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

_NOT_KEY = re.compile(r"[^a-z0-9]+")

# The name each run of this process was last given here: the run's context keeps the name
# it started with.
_named: dict[UUID, str] = {}


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return _NOT_KEY.sub("-", "-".join(parts).lower()).strip("-")[:100]


def name_run(name: str) -> None:
    """Name the current run, e.g. `inv-00001 from s3://b/k`.

    Done in the body rather than by `flow_run_name=`, whose rename comes before the
    body and fails the whole run when the API is busy. A run that has the name already
    (the webhook names a lone upload's run after it) costs no request: it was one more
    round trip before the first step of every served run.
    """
    if flow_run.id is None:
        return
    run_id = UUID(flow_run.id)
    if _named.get(run_id, flow_run.name) == name:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, name=name)
    except Exception as exc:
        get_run_logger().warning("could not rename the run to %r: %s", name, exc)
    else:
        _named[run_id] = name


def publish(key: str, markdown: str, description: str) -> None:
    """Show an outcome as a markdown artifact."""
    try:
        create_markdown_artifact(key=key, markdown=markdown, description=description)
    except Exception as exc:
        get_run_logger().warning("could not write the artifact %s: %s", key, exc)


def progress(description: str) -> Callable[[float], None]:
    """A progress artifact at 0 %, and the function that moves it (percent)."""
    try:
        # Called from sync flows, where Prefect's async_dispatch returns the UUID itself
        # (its type says "or a coroutine" for async callers).
        artifact_id = cast(UUID, create_progress_artifact(0.0, description=description))
    except Exception as exc:
        get_run_logger().warning("could not create the progress artifact: %s", exc)
        return lambda percent: None

    def update(percent: float) -> None:
        try:
            update_progress_artifact(artifact_id, percent)
        except Exception as exc:
            get_run_logger().warning("could not update the progress artifact: %s", exc)

    return update
