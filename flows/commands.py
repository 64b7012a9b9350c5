"""Settings for the flows a `python -m docproc` command runs in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """No flow-run heartbeats unless the user's settings ask for them (the variable
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY, its legacy name or the Prefect profile).

    They detect runs whose infrastructure died, where a command's terminal shows it, and
    Prefect joins their thread at the end of the run, which it wakes once a second: half
    a second more for every command on average (measured: 0.4-0.8 s of a one-document
    backfill's 4-5 s). Served and deployed runs keep them.
    """
    asked = "heartbeat_frequency" in get_current_settings().flows.model_fields_set
    with temporary_settings({} if asked else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
