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
    Path(out).write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "parent": os.getppid(),
                "preloaded": "deployments.preload" in sys.modules,
                "model_parsed": bool(forkserver_loader_cache()),
            }
        )
    )
    if fail:
        raise RuntimeError("the probe was told to fail")


def forkserver_loader_cache() -> dict[object, object]:
    from docproc import aws

    cache: dict[object, object] = aws._LOADER._cache  # type: ignore[attr-defined]
    return cache


def _run(tmp_path: Path, fail: bool, start: Any) -> tuple[int | None, dict[str, Any], str]:
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / f"probe-{fail}.json"
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(probe, parameters={"out": str(out), "fail": fail})
    process = start(probe, flow_run=flow_run)
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
