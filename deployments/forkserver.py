"""Served runs start from a forkserver that has imported Prefect and the flows already.

Prefect's runner starts each served run in a new `spawn` process, which imports Prefect,
boto3 and SQLAlchemy again: about 2 s on this kind of machine, most of the latency between
an upload and its CSV. A forkserver pays for those imports once, when `serve` starts, and
forks a child per run. Each run still gets a process of its own, so the runner's crash
detection and cancellation (by pid) work as before.

`run_flow_in_forkserver` is `prefect.flow_engine.run_flow_in_subprocess` (Prefect 3.9.1)
with the forkserver context in place of `spawn`; `install` puts it where the runner's
direct starter looks it up, which that module names as its override point.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable
from typing import Any

# Imported once, in the forkserver, before it forks: see that module.
PRELOAD = ["deployments.preload"]

# The Prefect whose `run_flow_in_subprocess` (and private helpers) this module copies.
COPIED_FROM = "3.9.1"

logger = logging.getLogger(__name__)


def _run_flow_with_env(
    *args: Any,
    env: dict[str, str] | None = None,
    remove_env: set[str] | None = None,
    flow_run_id: Any = None,
    **kwargs: Any,
) -> None:
    """In the child: the run's environment and settings first, then the flow."""
    import asyncio

    from prefect.context import SettingsContext, get_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import run_flow
    from prefect.settings.models.root import Settings

    for key in remove_env or ():
        os.environ.pop(key, None)
    os.environ.update(env or {})
    settings_context = get_settings_context()
    with (
        SettingsContext(profile=settings_context.profile, settings=Settings()),
        handle_engine_signals(flow_run_id),
    ):
        maybe_coro = run_flow(*args, **kwargs)
        if asyncio.iscoroutine(maybe_coro):
            asyncio.run(maybe_coro)


def run_flow_in_forkserver(
    flow: Any,
    flow_run: Any = None,
    parameters: dict[str, Any] | None = None,
    wait_for: Iterable[Any] | None = None,
    context: dict[str, Any] | None = None,
    env: dict[str, str | None] | None = None,
) -> Any:
    """Start `flow_run` in a child of the forkserver; the same contract as Prefect's
    `run_flow_in_subprocess`, which returns the started process."""
    from prefect import flow_engine
    from prefect.context import serialize_context
    from prefect.settings.context import get_current_settings
    from prefect.utilities.callables import cloudpickle_wrapped_call
    from prefect.utilities.processutils import sanitize_subprocess_env

    merged_env: dict[str, str | None] = {
        **get_current_settings().to_environment_variables(exclude_unset=True),
        **os.environ,
        "PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false",
        **(env or {}),
    }
    sanitized = sanitize_subprocess_env(merged_env)
    control_keys = flow_engine._CONTROL_CHANNEL_ENV_KEYS
    wrapped_call = cloudpickle_wrapped_call(
        _run_flow_with_env,
        env={key: value for key, value in sanitized.items() if key not in control_keys},
        remove_env={key for key, value in merged_env.items() if value is None},
        flow_run_id=getattr(flow_run, "id", None),
        flow=flow,
        flow_run=flow_run,
        parameters=parameters,
        wait_for=wait_for,
        context=context or serialize_context(),
    )
    startup_env = {key: value for key, value in sanitized.items() if key in control_keys}
    process = multiprocessing.get_context("forkserver").Process(
        target=flow_engine._run_serialized_call_with_control_bootstrap,
        args=(wrapped_call.args[0], startup_env),  # type: ignore[attr-defined]
    )
    process.start()
    return process


def start() -> None:
    """Start the forkserver now, so that not even the first run waits for the imports."""
    from multiprocessing import forkserver

    forkserver.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def install() -> bool:
    """Make this process's runner start served runs from the forkserver; True if it does.

    Only on the Prefect this copies: on any other version its private helpers may differ,
    so served runs keep Prefect's own `spawn` start (about 2 s slower each), and we say so.
    """
    import prefect
    from prefect.runner import _starter_direct

    if prefect.__version__ != COPIED_FROM:
        logger.warning(
            "Prefect %s is not %s, whose run_flow_in_subprocess deployments/forkserver.py "
            "copies: served runs start with Prefect's own spawn instead",
            prefect.__version__,
            COPIED_FROM,
        )
        return False
    start()
    # The module imports it without re-exporting it, and names it as the place to patch.
    _starter_direct.run_flow_in_subprocess = run_flow_in_forkserver  # type: ignore[attr-defined]
    return True
