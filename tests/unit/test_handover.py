"""The hand-over goes through Prefect's client: its auth and custom headers, no retries of
its own; each run is created before its event, which names it, and a refused event costs
a warning, not the hand-over."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prefect.settings import (
    PREFECT_API_KEY,
    PREFECT_API_URL,
    PREFECT_CLIENT_CSRF_SUPPORT_ENABLED,
    PREFECT_CLIENT_CUSTOM_HEADERS,
    temporary_settings,
)

from deployments import handover
from deployments.handover import PrefectHandOver
from docproc import events
from docproc.models import ObjectRef
from docproc.webhook import HandOverError

REF = ObjectRef("bucket", "in/a.txt", "etag1")


class FakeApi(ThreadingHTTPServer):
    """Records each request; answers POST /events with `status`, any other POST with
    `run_status`, and GET with 404 (it has no deployments)."""

    status = 204
    run_status = 500
    seen: list[tuple[str, str, dict[str, str], Any]]  # method, path, headers, body


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(("POST", self.path, headers, body))
        if self.path.endswith("/events"):
            self._answer(self.server.status)
        else:
            self._answer(self.server.run_status, b'{"detail": "boom\\non two lines"}')

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, {}, None))
        self._answer(404, b'{"detail": "Deployment not found"}')

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


def stub_runs(
    hand_over: PrefectHandOver, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, dict[str, Any]]]:
    """Runs created without an API behind them: each (deployment name, keyword arguments)."""
    created: list[tuple[str, dict[str, Any]]] = []
    names: dict[uuid.UUID, str] = {}

    def read(name: str) -> SimpleNamespace:
        names[deployment := uuid.uuid4()] = name
        return SimpleNamespace(id=deployment)

    def create(deployment_id: uuid.UUID, **kwargs: Any) -> SimpleNamespace:
        created.append((names[deployment_id], kwargs))
        return SimpleNamespace(id=uuid.uuid5(uuid.NAMESPACE_URL, kwargs["idempotency_key"]))

    monkeypatch.setattr(hand_over._client, "read_deployment_by_name", read)
    monkeypatch.setattr(hand_over._client, "create_flow_run_from_deployment", create)
    return created


def test_a_lone_object_gets_its_own_invoice_run_then_its_event(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created here, not by the deployment's trigger: the server does not retry a trigger
    action whose run creation failed, and the upload would have no run."""
    hand_over = PrefectHandOver()
    created = stub_runs(hand_over, monkeypatch)
    try:
        hand_over([REF])
        hand_over([REF])  # SNS delivers again: the same key, so the same run
    finally:
        hand_over.close()
    expected = {
        "parameters": {"bucket": "bucket", "key": "in/a.txt", "etag": "etag1"},
        "idempotency_key": str(events.event_id(REF)),
        "name": "s3://bucket/in/a.txt",
    }
    assert created == [("process-invoice/process-invoice", expected)] * 2
    run = uuid.uuid5(uuid.NAMESPACE_URL, expected["idempotency_key"])
    for method, path, headers, body in api.seen:
        assert (method, path) == ("POST", "/api/events")
        assert headers["authorization"] == "Bearer pnu_test"
        assert headers["x-docproc-test"] == "yes"
        [event] = body
        assert event["event"] == events.OBJECTS_CREATED  # no trigger's: no second run
        assert event["payload"] == {"bucket": "bucket", "objects": [["in/a.txt", "etag1"]]}
        assert event["related"][-1]["prefect.resource.id"] == f"prefect.flow-run.{run}"
    assert len(api.seen) == 2


def test_a_refused_event_is_one_attempt_and_a_warning_not_a_refusal(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The run exists: a 503 would make SNS deliver the object again, into a second run."""
    api.status = 503
    hand_over = PrefectHandOver()
    created = stub_runs(hand_over, monkeypatch)
    try:
        hand_over([REF])
    finally:
        hand_over.close()
    assert len(created) == 1
    assert len(api.seen) == 1  # no retry of the event
    run = uuid.uuid5(uuid.NAMESPACE_URL, str(events.event_id(REF)))
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage().startswith(
        f"Prefect API did not take the event(s) of 1 object(s) handed over to run(s) {run}: "
    )
    assert "503" in warning.getMessage()


def test_no_api_url_is_a_usage_error() -> None:
    with temporary_settings({PREFECT_API_URL: ""}), pytest.raises(ValueError, match="not set"):
        PrefectHandOver()


GROUP = [ObjectRef("bucket", "in/a.txt", "etag1"), ObjectRef("bucket", "in/b.txt", None)]
OTHER = ObjectRef("other", "in/c.txt", "etag3")


def test_a_group_without_its_deployment_is_refused_before_any_event(api: FakeApi) -> None:
    hand_over = PrefectHandOver()
    try:
        with pytest.raises(HandOverError) as raised:
            hand_over([*GROUP, OTHER])
    finally:
        hand_over.close()
    assert str(raised.value) == (
        "deployment process-batch/process-batch not found: no run for 2 objects of bucket"
    )
    assert [(m, p) for m, p, _, _ in api.seen] == [
        ("GET", "/api/deployments/name/process-batch/process-batch")
    ]


def test_a_group_run_the_api_keeps_refusing_is_tried_briefly_then_a_one_line_error(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "CREATE_RETRY_SECONDS", (0.25,))  # one wait: two attempts
    hand_over = PrefectHandOver()
    deployment = uuid.uuid4()
    reads: list[str] = []

    def read(name: str) -> SimpleNamespace:
        reads.append(name)
        return SimpleNamespace(id=deployment)

    monkeypatch.setattr(hand_over._client, "read_deployment_by_name", read)
    try:
        for _ in range(2):
            with pytest.raises(HandOverError) as raised:
                hand_over(GROUP)
            message = str(raised.value)
            assert message.startswith("Prefect API did not create the run of 2 objects of bucket:")
            assert "500" in message and "\n" not in message
    finally:
        hand_over.close()
    assert [(m, p) for m, p, _, _ in api.seen] == [
        ("POST", f"/api/deployments/{deployment}/create_flow_run")
    ] * 4  # two attempts per hand-over within its budget, and no event
    assert len(reads) == 2  # a failed run reads the deployment again: it may be a new one


def test_a_busy_answer_reaches_sns_without_a_wait_in_prefects_client(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect's client, even told to make no retries, sleeps 2 s on a 503 before it gives
    up; the hand-over's client raises it at once, for SNS to deliver again."""
    import prefect.client.base

    api.run_status = 503
    monkeypatch.setattr(handover, "CREATE_RETRY_SECONDS", ())  # one attempt
    slept: list[float] = []
    monkeypatch.setattr(prefect.client.base.time, "sleep", slept.append)
    hand_over = PrefectHandOver()
    deployment = uuid.uuid4()
    monkeypatch.setattr(
        hand_over._client, "read_deployment_by_name", lambda name: SimpleNamespace(id=deployment)
    )
    try:
        with pytest.raises(HandOverError, match="503"):
            hand_over([REF])
    finally:
        hand_over.close()
    assert slept == []
    assert [path for _, path, _, _ in api.seen] == [
        f"/api/deployments/{deployment}/create_flow_run"
    ]


def test_a_group_run_a_busy_api_refuses_once_is_created_on_the_next_attempt(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's writer lock under a burst: a 503 for the run's INSERT, then room again."""
    hand_over = PrefectHandOver()
    attempts: list[str] = []

    def create(deployment_id: uuid.UUID, **kwargs: Any) -> SimpleNamespace:
        attempts.append(kwargs["idempotency_key"])
        if len(attempts) == 1:
            request = httpx.Request("POST", "http://api/deployments/x/create_flow_run")
            response = httpx.Response(503, request=request)
            raise httpx.HTTPStatusError(
                "503 Service Unavailable", request=request, response=response
            )
        return SimpleNamespace(id=uuid.uuid4())

    monkeypatch.setattr(
        hand_over._client, "read_deployment_by_name", lambda name: SimpleNamespace(id=uuid.uuid4())
    )
    monkeypatch.setattr(hand_over._client, "create_flow_run_from_deployment", create)
    try:
        hand_over(GROUP)
    finally:
        hand_over.close()
    assert attempts == [str(events.group_id(GROUP))] * 2  # the same key: one run at most
    assert [path for _, path, _, _ in api.seen] == ["/api/events"]


def test_each_run_comes_first_and_its_event_names_it(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_over = PrefectHandOver()
    created = stub_runs(hand_over, monkeypatch)
    try:
        hand_over([*GROUP, OTHER])
        hand_over([OTHER, *reversed(GROUP)])  # delivered again, in another order
    finally:
        hand_over.close()

    group_run = {
        "parameters": {"bucket": "bucket", "objects": [["in/a.txt", "etag1"], ["in/b.txt", ""]]},
        "idempotency_key": str(events.group_id(GROUP)),
        "name": "2 objects from s3://bucket (in/a.txt ... in/b.txt)",
    }
    lone_run = {
        "parameters": {"bucket": "other", "key": "in/c.txt", "etag": "etag3"},
        "idempotency_key": str(events.event_id(OTHER)),
        "name": "s3://other/in/c.txt",
    }
    assert created[:2] == [
        ("process-batch/process-batch", group_run),
        ("process-invoice/process-invoice", lone_run),
    ]
    # The same keys whatever the order, so the same runs.
    assert sorted(kwargs["idempotency_key"] for _, kwargs in created[2:]) == sorted(
        [group_run["idempotency_key"], lone_run["idempotency_key"]]
    )
    assert len(api.seen) == 2  # one POST of events per hand-over, after its runs
    for _, path, _, body in api.seen:
        assert path == "/api/events"
        for event in body:
            assert event["event"] == events.OBJECTS_CREATED
            key = group_run if event["payload"]["bucket"] == "bucket" else lone_run
            run = uuid.uuid5(uuid.NAMESPACE_URL, str(key["idempotency_key"]))
            assert event["related"][-1] == {
                "prefect.resource.id": f"prefect.flow-run.{run}",
                "prefect.resource.role": "flow-run",
            }
        assert {e["id"] for e in body} == {
            str(events.group_id(GROUP)),
            str(events.group_id([OTHER])),
        }


def test_each_created_run_is_announced_and_a_failing_listener_costs_a_log_line(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve` wakes its runner with each run; the run exists whatever the wake does."""
    woken: list[uuid.UUID] = []

    def wake(run: Any) -> None:
        woken.append(run.id)
        raise RuntimeError("the runner went away")

    hand_over = PrefectHandOver(on_created=wake)
    stub_runs(hand_over, monkeypatch)
    try:
        hand_over([*GROUP, OTHER])
    finally:
        hand_over.close()
    assert woken == [
        uuid.uuid5(uuid.NAMESPACE_URL, str(events.group_id(GROUP))),
        uuid.uuid5(uuid.NAMESPACE_URL, str(events.event_id(OTHER))),
    ]
    assert "could not wake the runner for the run of 2 objects of bucket" in caplog.text
    assert [path for _, path, _, _ in api.seen] == ["/api/events"]  # handed over all the same
