"""Served runs start from the warm forkserver: each in a process of its own, imports done."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from deployments import forkserver

pytestmark = pytest.mark.usefixtures("prefect_api")


@flow(name="forkserver-probe")
def probe(out: str, fail: bool = False) -> None:
    """Say where it ran; what the child had imported before it got here shows the warm-up."""
    from prefect.settings import get_current_settings

    Path(out).write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "parent": os.getppid(),
                "preloaded": "deployments.preload" in sys.modules,
                "model_parsed": bool(forkserver_loader_cache()),
                "max_retries": get_current_settings().client.max_retries,
                "api_url": get_current_settings().api.url,
                "env": os.environ.get(PROBE_ENV),
                "tls_shared": clients_share_tls_context(),
            }
        )
    )
    if fail:
        raise RuntimeError("the probe was told to fail")


PROBE_ENV = "DOCPROC_TEST_PROBE_ENV"


def clients_share_tls_context() -> bool:
    """Whether two new Prefect clients hold one TLS context (httpx's pool keeps it).

    Made directly: `get_client` in a run gives the run's own client back."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    assert url is not None
    first, second = SyncPrefectClient(url), SyncPrefectClient(url)
    pools = [client._client._transport._pool for client in (first, second)]  # type: ignore[attr-defined]
    return bool(pools[0]._ssl_context is pools[1]._ssl_context)


def forkserver_loader_cache() -> dict[object, object]:
    from docproc import aws

    cache: dict[object, object] = aws._LOADER._cache  # type: ignore[attr-defined]
    return cache


def _run(
    tmp_path: Path, fail: bool, start: Any, env: dict[str, str | None] | None = None
) -> tuple[int | None, dict[str, Any], str]:
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / f"probe-{fail}.json"
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(probe, parameters={"out": str(out), "fail": fail})
    process = start(probe, flow_run=flow_run, env=env)
    process.join(timeout=120)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state
    assert state is not None
    return process.exitcode, json.loads(out.read_text()), state.type.value


def test_a_run_is_forked_with_flows_imported_and_the_s3_model_parsed(tmp_path: Path) -> None:
    forkserver.start()
    exitcode, seen, state = _run(tmp_path, False, forkserver.run_flow_in_forkserver)
    assert (exitcode, state) == (0, "COMPLETED")
    assert seen["pid"] != os.getpid()
    assert seen["parent"] != os.getpid(), "forked by the forkserver, not started by us"
    assert seen["preloaded"] is True
    assert seen["model_parsed"] is True


@pytest.mark.parametrize("fail", [False, True], ids=["completed", "failed"])
def test_the_runner_sees_what_prefects_own_subprocess_would_show(
    tmp_path: Path, fail: bool
) -> None:
    """Exit code and final state are what the runner judges a run by (crashed or not)."""
    from prefect.flow_engine import run_flow_in_subprocess

    forkserver.start()
    forked = _run(tmp_path / "forked", fail, forkserver.run_flow_in_forkserver)
    spawned = _run(tmp_path / "spawned", fail, run_flow_in_subprocess)
    assert (forked[0], forked[2]) == (spawned[0], spawned[2])
    assert forked[2] == ("FAILED" if fail else "COMPLETED")
    assert spawned[1]["preloaded"] is False  # the spawned child imported everything itself


def test_a_forked_run_has_the_runners_settings_and_the_environment_it_was_given(
    tmp_path: Path, prefect_api: str
) -> None:
    """The child builds no settings of its own: the runner's come along, those set in its
    context too (not only its environment), and the run's environment is applied."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    forkserver.start()
    assert "PREFECT_CLIENT_MAX_RETRIES" not in os.environ
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 7}):
        exitcode, seen, state = _run(
            tmp_path, False, forkserver.run_flow_in_forkserver, env={PROBE_ENV: "given"}
        )
    assert (exitcode, state) == (0, "COMPLETED")
    assert seen["max_retries"] == 7
    assert seen["api_url"] == prefect_api
    assert seen["env"] == "given"


def test_the_prefect_clients_of_a_forked_run_share_one_tls_context(tmp_path: Path) -> None:
    """Made once, in the forkserver: each client of a run made its own before (45 ms)."""
    from prefect.flow_engine import run_flow_in_subprocess

    forkserver.start()
    forked = _run(tmp_path / "forked", False, forkserver.run_flow_in_forkserver)
    spawned = _run(tmp_path / "spawned", False, run_flow_in_subprocess)
    assert forked[1]["tls_shared"] is True
    assert spawned[1]["tls_shared"] is False  # Prefect's own: a context per client
