"""The hand-over posts through Prefect's client: its auth and custom headers, no retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect.settings import (
    PREFECT_API_KEY,
    PREFECT_API_URL,
    PREFECT_CLIENT_CSRF_SUPPORT_ENABLED,
    PREFECT_CLIENT_CUSTOM_HEADERS,
    temporary_settings,
)

from deployments.handover import PrefectHandOver
from docproc import events
from docproc.models import ObjectRef
from docproc.webhook import HandOverError

REF = ObjectRef("bucket", "in/a.txt", "etag1")


class FakeApi(ThreadingHTTPServer):
    """Records each request to /events and answers with `status`."""

    status = 204
    seen: list[tuple[dict[str, str], Any]]


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = {
        PREFECT_API_URL: f"http://127.0.0.1:{server.server_address[1]}/api",
        PREFECT_API_KEY: "pnu_test",
        PREFECT_CLIENT_CUSTOM_HEADERS: {"X-Docproc-Test": "yes"},
        PREFECT_CLIENT_CSRF_SUPPORT_ENABLED: False,
    }
    with temporary_settings(settings):
        yield server
    server.shutdown()
    server.server_close()


def test_events_go_with_prefects_auth_and_custom_headers(api: FakeApi) -> None:
    hand_over = PrefectHandOver()
    try:
        hand_over([REF])
    finally:
        hand_over.close()
    [(headers, body)] = api.seen
    assert headers["authorization"] == "Bearer pnu_test"
    assert headers["x-docproc-test"] == "yes"
    [event] = body
    assert {**event, "occurred": None} == {**events.object_created(REF), "occurred": None}


def test_a_refusal_is_one_attempt_and_an_error(api: FakeApi) -> None:
    """Prefect's client retries a 503 with back-off; SNS must get its 503 at once instead."""
    api.status = 503
    hand_over = PrefectHandOver()
    try:
        with pytest.raises(HandOverError, match="did not take 1 event"):
            hand_over([REF])
    finally:
        hand_over.close()
    assert len(api.seen) == 1


def test_no_api_url_is_a_usage_error() -> None:
    with temporary_settings({PREFECT_API_URL: ""}), pytest.raises(ValueError, match="not set"):
        PrefectHandOver()
