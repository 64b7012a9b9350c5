"""The forkserver copies a Prefect 3.9.1 function: on any other Prefect it stays out."""

from __future__ import annotations

import logging

import prefect
import pytest
from prefect.runner import _starter_direct

from deployments import forkserver


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record forkserver starts instead of starting one; restore the runner's starter."""
    started: list[str] = []
    monkeypatch.setattr(forkserver, "start", lambda: started.append("start"))
    monkeypatch.setattr(
        _starter_direct, "run_flow_in_subprocess", _starter_direct.run_flow_in_subprocess
    )
    return started


def test_installed_on_the_copied_version(
    monkeypatch: pytest.MonkeyPatch, starts: list[str]
) -> None:
    monkeypatch.setattr(prefect, "__version__", forkserver.COPIED_FROM)
    assert forkserver.install() is True
    assert starts == ["start"]
    assert _starter_direct.run_flow_in_subprocess is forkserver.run_flow_in_forkserver


def test_any_other_version_keeps_prefects_spawn_and_says_so(
    monkeypatch: pytest.MonkeyPatch, starts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    own = _starter_direct.run_flow_in_subprocess
    monkeypatch.setattr(prefect, "__version__", "3.10.0")
    with caplog.at_level(logging.WARNING, logger="deployments.forkserver"):
        assert forkserver.install() is False
    assert starts == []
    assert _starter_direct.run_flow_in_subprocess is own
    assert "Prefect 3.10.0 is not 3.9.1" in caplog.text
    assert "spawn" in caplog.text
