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
import ssl
import threading
import types
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
    """In the child: the run's environment and settings first, then the flow.

    Prefect's own child builds `Settings()` from its environment here (80 ms in a forked
    child), then the engine replaces them with the runner's, from the context it
    hydrates, before anything reads a setting for the run. Here the runner's settings come
    as they are (`run_flow_in_forkserver`) and serve both, built nowhere in the child.
    """
    import asyncio

    from prefect.context import SettingsContext, get_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import run_flow
    from prefect.settings.models.root import Settings

    for key in remove_env or ():
        os.environ.pop(key, None)
    os.environ.update(env or {})
    shipped = (kwargs.get("context") or {}).get("settings_context") or {}
    settings = shipped.get("settings")
    settings_context = get_settings_context()
    with (
        SettingsContext(
            profile=settings_context.profile,
            settings=settings if isinstance(settings, Settings) else Settings(),
        ),
        handle_engine_signals(flow_run_id),
    ):
        maybe_coro = run_flow(*args, **kwargs)
        if asyncio.iscoroutine(maybe_coro):
            asyncio.run(maybe_coro)


def _with_live_settings(context: dict[str, Any]) -> dict[str, Any]:
    """`context` with the runner's settings object in place of their serialized form.

    Serialized, they are validated again in the child (`hydrated_context`), tens of
    milliseconds before the run can start; the object pickles as it is. The same machine
    and Python read it (the child is forked), so what the serialized form is for, a
    platform-neutral copy, is not needed.
    """
    from prefect.context import SettingsContext

    current = SettingsContext.get()
    shipped = context.get("settings_context")
    if current is None or not shipped or "settings" not in shipped:
        return context
    return {**context, "settings_context": {**shipped, "settings": current.settings}}


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
        context=context or _with_live_settings(serialize_context()),
    )
    startup_env = {key: value for key, value in sanitized.items() if key in control_keys}
    process = multiprocessing.get_context("forkserver").Process(
        target=flow_engine._run_serialized_call_with_control_bootstrap,
        args=(wrapped_call.args[0], startup_env),  # type: ignore[attr-defined]
    )
    process.start()
    return process


class _SharedVerifiedContexts(types.ModuleType):
    """What Prefect's client module sees as `ssl`: `ssl` itself, except that a verified
    context for a CA file is made once per file and shared.

    Every Prefect client builds a TLS context when it is made, loading the whole CA
    bundle (about 45 ms of CPU, even for a plain-HTTP API), and a run makes several: the
    engine's, the context's, the suspension observer's, the writer slot's; a forked run
    paid for each anew, most of them before it could start. A context made once, in the
    forkserver, is shared by them all. Only a context for a CA file alone is shared (the
    verified one, which nothing changes after); the unverified one that
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY asks for is made anew each time, as before. A
    CA file that changes on disk gets a new context.
    """

    def __init__(self) -> None:
        super().__init__("ssl")
        self._made: dict[tuple[str, int, int], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    def create_default_context(
        self,
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
    ) -> ssl.SSLContext:
        if cafile is None or capath is not None or cadata is not None:
            return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
        if purpose != ssl.Purpose.SERVER_AUTH:
            return ssl.create_default_context(purpose, cafile=cafile)
        stat = os.stat(cafile)
        key = (cafile, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key not in self._made:
                self._made[key] = ssl.create_default_context(purpose, cafile=cafile)
            return self._made[key]


def share_tls_contexts() -> None:
    """Make the Prefect clients of this process (the forkserver, then every run forked
    from it) share their verified TLS context; the default one is made now."""
    import certifi
    from prefect.client import orchestration
    from prefect.settings import PREFECT_API_SSL_CERT_FILE

    shared = _SharedVerifiedContexts()
    orchestration.ssl = shared  # type: ignore[attr-defined]
    # The CA file Prefect's clients will name (their own choice, in the same order).
    shared.create_default_context(cafile=PREFECT_API_SSL_CERT_FILE.value() or certifi.where())


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
