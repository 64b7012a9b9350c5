"""The writer slot calls Prefect's private concurrency helpers only on the Prefect they were
written for: without them (an upgrade that moved them, another version) every database
write still takes its slot, through Prefect's public `concurrency()`, and we say so."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import prefect
import prefect.concurrency.sync
import pytest

from tasks import writer_slot


@pytest.fixture
def public_slots(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Record the slots taken through Prefect's public `concurrency()`; no Prefect API:
    the limit is taken as made, and our own acquire must not be reached."""
    taken: list[dict[str, Any]] = []

    @contextmanager
    def concurrency(names: str, **kwargs: Any) -> Iterator[None]:
        taken.append({"names": names, **kwargs})
        yield

    def no_acquire() -> None:
        raise AssertionError("the private path was taken")

    monkeypatch.setattr(prefect.concurrency.sync, "concurrency", concurrency)
    monkeypatch.setattr(writer_slot, "ensure_limit", lambda: None)
    monkeypatch.setattr(writer_slot, "_acquire", no_acquire)
    writer_slot._private_helpers.cache_clear()
    yield taken
    writer_slot._private_helpers.cache_clear()


def write_once() -> list[bool]:
    held: list[bool] = []
    with writer_slot.database_writer():
        held.append(writer_slot._holding.get())
    return held


def test_a_missing_private_module_falls_back_to_the_public_slot_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
    public_slots: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "prefect.concurrency._leases", None)  # import raises
    with caplog.at_level(logging.WARNING, logger="tasks.writer_slot"):
        held = write_once()
        write_once()  # said once per process

    assert held == [True]
    assert [slot["names"] for slot in public_slots] == [writer_slot.WRITERS_LIMIT] * 2
    assert public_slots[0]["lease_duration"] == writer_slot.LEASE_SECONDS
    assert public_slots[0]["raise_on_lease_renewal_failure"] is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "tasks.writer_slot"]
    assert len(warnings) == 1
    assert "prefect.concurrency._leases" in warnings[0]
    assert "Prefect's own concurrency()" in warnings[0]


def test_another_prefect_falls_back_to_the_public_slot_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
    public_slots: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(prefect, "__version__", "3.10.0")
    with caplog.at_level(logging.WARNING, logger="tasks.writer_slot"):
        write_once()

    assert len(public_slots) == 1
    assert f"Prefect 3.10.0 is not {writer_slot.WRITTEN_FOR}" in caplog.text


def test_the_prefect_written_for_uses_its_private_helpers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect.concurrency._leases import maintain_concurrency_lease

    monkeypatch.setattr(prefect, "__version__", writer_slot.WRITTEN_FOR)
    writer_slot._private_helpers.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="tasks.writer_slot"):
            private = writer_slot._private_helpers()
    finally:
        writer_slot._private_helpers.cache_clear()

    assert private is not None
    assert private.maintain_lease is maintain_concurrency_lease
    assert caplog.text == ""
