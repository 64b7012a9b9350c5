"""Waiting on the chain's effects, and what the tests that run it upload and read back."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import httpx

from docproc import events

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
# The same invoice with item 5 at 950 instead of 850, totals and words to match (the
# demo's held conflict): the changed-invoice fraud.
CHANGED = files("docproc").joinpath("samples/docproc-invoice-corrected.txt").read_bytes()


def variant(invoice_id: str) -> bytes:
    """The sample invoice under another number."""
    return SAMPLE.replace(b"inv-00001", invoice_id.encode())


def wait_for(predicate: Callable[[], object], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s")
        time.sleep(0.25)


def group_events(api_url: str, bucket: str, count: int = 1, timeout: float = 30) -> list[Any]:
    """The hand-over events of `bucket` the server has stored, once there are `count` of
    them (it stores them a little later)."""
    body = {
        "filter": {
            "event": {"name": [events.OBJECTS_CREATED]},
            "resource": {"id": [f"s3://{bucket}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.post(f"{api_url}/events/filter", json=body, timeout=10).json()["events"]
        if len(found) >= count or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.5)
