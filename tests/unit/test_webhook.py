"""docproc.webhook over HTTP, with messages signed here and a fake hand-over."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from moto import mock_aws

from devtools.sns_signing import (
    CERT_URL,
    REGION,
    TOPIC_ARN,
    SigningIdentity,
    encode,
    make_identity,
    s3_event,
    signed_message,
    sns_timestamp,
)
from docproc.models import ObjectRef
from docproc.settings import Settings
from docproc.sns import CertificateStore, SnsMessage, parse_message
from docproc.webhook import (
    MAX_BODY_BYTES,
    HandOverError,
    RecentObjects,
    SubscriptionConfirmer,
    create_app,
)
from tests.support.web import serving

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sns"
NOW = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
BUCKET = "docproc-source"
ETAG = "0123456789abcdef0123456789abcdef"
OBJECT = ObjectRef(BUCKET, "in/a b+c.txt", ETAG)
TEXT = {"Content-Type": "text/plain; charset=UTF-8"}


class Recorder:
    """A hand-over that remembers every call; `fail` makes the next calls raise HandOverError."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[ObjectRef]] = []
        self.fail = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        time.sleep(self.delay)
        with self._lock:
            if self.fail:
                self.fail -= 1
                raise HandOverError("Prefect API down")
            self.calls.append(list(refs))

    @property
    def refs(self) -> list[ObjectRef]:
        return [ref for call in self.calls for ref in call]


class Fetch:
    """Serves the test certificate (or fails), counting downloads."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.urls: list[str] = []
        self.broken = False

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if self.broken:
            raise OSError("network unreachable")
        return self.body


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return make_identity(not_before=NOW - timedelta(days=30), not_after=NOW + timedelta(days=30))


@pytest.fixture
def fetch(identity: SigningIdentity) -> Fetch:
    return Fetch(identity.pem)


@pytest.fixture
def hand_over() -> Recorder:
    return Recorder()


@pytest.fixture
def confirmed() -> list[SnsMessage]:
    return []


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    fetch: Fetch, hand_over: Recorder, confirmed: list[SnsMessage]
) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def factory(verify: bool = True, topics: str = TOPIC_ARN, **kwargs: Any) -> TestClient:
        kwargs.setdefault("confirm", confirmed.append)
        client = TestClient(make_app(fetch, hand_over, verify, topics, **kwargs))
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()


def make_app(
    fetch: Callable[[str], bytes],
    hand_over: Callable[[Sequence[ObjectRef]], None],
    verify: bool = True,
    topics: str = TOPIC_ARN,
    **kwargs: Any,
) -> FastAPI:
    settings = Settings(_env_file=None, sns_verify=verify, sns_topic_arns=topics)  # type: ignore[call-arg]
    store = CertificateStore(fetch=fetch, now=lambda: NOW)
    return create_app(settings, hand_over, certificates=store, now=lambda: NOW, **kwargs)


def notification(
    identity: SigningIdentity,
    *records: tuple[str, str, str],
    message: str | None = None,
    **kwargs: Any,
) -> dict[str, str]:
    kwargs.setdefault("timestamp", sns_timestamp(NOW))
    event = message if message is not None else s3_event(*records)
    return signed_message(identity, "Notification", event, **kwargs)


def post(client: TestClient, fields: dict[str, str] | bytes, **headers: str) -> httpx.Response:
    """As SNS does, with the type header unless the body is given raw."""
    if not isinstance(fields, bytes):
        headers.setdefault("x-amz-sns-message-type", fields["Type"])
        fields = encode(fields)
    response: httpx.Response = client.post("/sns", content=fields, headers={**TEXT, **headers})
    return response


ENCODED = (BUCKET, "in%2Fa+b%2Bc.txt", ETAG)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "verify": True, "handed_over": 0}


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_notification_hands_over_decoded_key(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder, version: str
) -> None:
    response = post(client, notification(identity, ENCODED, version=version))
    assert response.status_code == 200
    assert response.json() == {"handed_over": 1, "duplicates": 0}
    assert hand_over.calls == [[OBJECT]]
    assert client.get("/healthz").json()["handed_over"] == 1


def test_records_of_one_message_handed_over_together(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    records = [(BUCKET, f"in/{n}.txt", f"{n:032x}") for n in range(3)]
    repeated = records[0]
    response = post(client, notification(identity, *records, repeated))
    assert response.status_code == 200
    assert response.json() == {"handed_over": 3, "duplicates": 0}
    assert hand_over.calls == [[ObjectRef(b, k, e) for b, k, e in records]]


def test_other_events_hand_over_nothing(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    removed = s3_event(ENCODED, event_name="ObjectRemoved:Delete")
    for message in (removed, "Hello world", '{"Records": 7}'):
        response = post(client, notification(identity, message=message))
        assert response.status_code == 200
        assert response.json() == {"handed_over": 0, "duplicates": 0}
    assert hand_over.calls == []


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("s3-test-event-notification.json", []),
        (
            "s3-put-notification.json",
            [[ObjectRef("glsource", "docproc-invoice.txt", "2fafdc4705f330664733b544dbcabc43")]],
        ),
    ],
)
def test_shared_samples_unverified(
    make_client: AppFactory, hand_over: Recorder, sample: str, expected: list[list[ObjectRef]]
) -> None:
    """Shapes as AWS sends them (their signatures no longer match: verification off)."""
    client = make_client(verify=False, topics="")
    body = (SAMPLES / sample).read_bytes()
    response = post(client, body, **{"x-amz-sns-message-type": "Notification"})
    assert response.status_code == 200
    assert response.json() == {"handed_over": len(expected), "duplicates": 0}
    assert hand_over.calls == expected


def test_redelivered_message_handed_over_once(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    fields = notification(identity, ENCODED)
    answers = [post(client, fields).json() for _ in range(5)]
    assert (
        answers == [{"handed_over": 1, "duplicates": 0}] + [{"handed_over": 0, "duplicates": 1}] * 4
    )
    assert hand_over.calls == [[OBJECT]]


def test_same_object_in_new_messages_handed_over_once(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    """S3 retries publish again: a new MessageId each time, the same object version."""
    for n in range(5):
        fields = notification(identity, ENCODED, message_id=f"id-{n}")
        assert post(client, fields).status_code == 200
    assert hand_over.calls == [[OBJECT]]


def test_only_new_objects_of_a_message_handed_over(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    other = (BUCKET, "in/other.txt", "f" * 32)
    post(client, notification(identity, ENCODED, message_id="first"))
    response = post(client, notification(identity, ENCODED, other, message_id="second"))
    assert response.json() == {"handed_over": 1, "duplicates": 1}
    assert hand_over.calls == [[OBJECT], [ObjectRef(*other)]]


def test_new_version_of_an_object_handed_over(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    post(client, notification(identity, ENCODED, message_id="v1"))
    post(client, notification(identity, (BUCKET, ENCODED[1], "e" * 32), message_id="v2"))
    assert [ref.etag for ref in hand_over.refs] == [ETAG, "e" * 32]


def forged(identity: SigningIdentity) -> dict[str, dict[str, str]]:
    other_key = make_identity(key_seed=1)
    tampered = notification(identity, ENCODED)
    tampered["Message"] = s3_event((BUCKET, "in%2Fevil.txt", ETAG))
    return {
        "wrong signature": notification(other_key, ENCODED),
        "tampered Message": tampered,
        "cert on another host": notification(
            identity,
            ENCODED,
            cert_url=CERT_URL.replace("amazonaws.com", "amazonaws.com.evil.example"),
        ),
        "cert of another region": notification(
            identity, ENCODED, cert_url=CERT_URL.replace(REGION, "eu-west-1")
        ),
        "unknown topic": notification(identity, ENCODED, topic_arn=TOPIC_ARN + "-other"),
        "stale timestamp": notification(
            identity, ENCODED, timestamp=sns_timestamp(NOW - timedelta(seconds=3901))
        ),
        "future timestamp": notification(
            identity, ENCODED, timestamp=sns_timestamp(NOW + timedelta(minutes=6))
        ),
        "unsigned": {
            k: v for k, v in notification(identity, ENCODED).items() if not k.startswith("Sig")
        },
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong signature",
        "tampered Message",
        "cert on another host",
        "cert of another region",
        "unknown topic",
        "stale timestamp",
        "future timestamp",
        "unsigned",
    ],
)
def test_forged_messages_refused(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder, fetch: Fetch, case: str
) -> None:
    response = post(client, forged(identity)[case])
    assert response.status_code == 403
    assert "Traceback" not in response.text
    assert hand_over.calls == []
    assert all(url == CERT_URL for url in fetch.urls)


def test_unknown_topic_refused_without_download(
    client: TestClient, identity: SigningIdentity, fetch: Fetch
) -> None:
    assert post(client, forged(identity)["unknown topic"]).status_code == 403
    assert fetch.urls == []


def test_unreachable_certificate_answers_503(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder, fetch: Fetch
) -> None:
    fetch.broken = True
    assert post(client, notification(identity, ENCODED)).status_code == 503
    fetch.broken = False
    assert post(client, notification(identity, ENCODED)).status_code == 200
    assert hand_over.calls == [[OBJECT]]


def test_verifier_bug_is_a_refusal_not_a_500(
    make_client: AppFactory, identity: SigningIdentity, hand_over: Recorder
) -> None:
    settings = Settings(_env_file=None, sns_topic_arns=TOPIC_ARN)  # type: ignore[call-arg]

    class BrokenStore(CertificateStore):
        def public_key(self, url: str) -> Any:
            raise KeyError(url)

    app = create_app(settings, hand_over, certificates=BrokenStore(), now=lambda: NOW)
    with TestClient(app) as client:
        response = post(client, notification(identity, ENCODED))
    assert response.status_code == 403
    assert "KeyError" not in response.text and "Traceback" not in response.text
    assert hand_over.calls == []


def test_failed_hand_over_answers_503_and_is_retried(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    fields = notification(identity, ENCODED)
    hand_over.fail = 1
    response = post(client, fields)
    assert response.status_code == 503
    assert "Traceback" not in response.text
    assert hand_over.calls == []
    assert post(client, fields).json() == {"handed_over": 1, "duplicates": 0}
    assert hand_over.calls == [[OBJECT]]


def test_hand_over_bug_answers_500_and_releases_the_object(
    fetch: Fetch, identity: SigningIdentity
) -> None:
    calls: list[list[ObjectRef]] = []

    def buggy_once(refs: Sequence[ObjectRef]) -> None:
        calls.append(list(refs))
        if len(calls) == 1:
            raise RuntimeError("bug in the hand-over")

    fields = notification(identity, ENCODED)
    with TestClient(make_app(fetch, buggy_once)) as client:
        response = post(client, fields)
        assert response.status_code == 500
        assert "RuntimeError" not in response.text and "Traceback" not in response.text
        assert post(client, fields).json() == {"handed_over": 1, "duplicates": 0}
    assert calls == [[OBJECT], [OBJECT]]


def test_one_log_line_per_request_with_values_quoted(
    client: TestClient, identity: SigningIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docproc.webhook")
    post(client, notification(identity, ENCODED, message_id="a\nPOST /sns -> 200 forged"))
    post(client, b"not json")
    lines = [r.getMessage() for r in caplog.records if r.name == "docproc.webhook"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /sns -> 200 handed_over=1 duplicates=0 Notification")
    assert "\n" not in lines[0] and "'a\\nPOST" in lines[0]
    assert lines[1] == "POST /sns -> 400 body is not UTF-8 JSON"


def test_body_over_limit_refused(client: TestClient, hand_over: Recorder) -> None:
    response = client.post("/sns", content=b" " * (MAX_BODY_BYTES + 1), headers=TEXT)
    assert response.status_code == 413


def test_streamed_body_over_limit_refused(client: TestClient) -> None:
    """No Content-Length (chunked): the count while reading decides."""

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 8192

    response = client.post("/sns", content=chunks(), headers=TEXT)
    assert response.status_code == 413


def test_body_at_limit_accepted(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    body = encode(notification(identity, ENCODED))
    body += b" " * (MAX_BODY_BYTES - len(body))
    assert post(client, body).status_code == 200
    assert hand_over.calls == [[OBJECT]]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"hello": "world"}',
        b'{"Type": "Notification"}',
        b"",
        b"[" * 100_000,
    ],
)
def test_bad_bodies_answer_400(client: TestClient, hand_over: Recorder, body: bytes) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert hand_over.calls == []


def test_header_disagreeing_with_type_refused(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    fields = notification(identity, ENCODED)
    response = post(client, fields, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert response.status_code == 400
    assert hand_over.calls == []


def test_missing_header_trusts_body(
    client: TestClient, identity: SigningIdentity, hand_over: Recorder
) -> None:
    """The emulator sends no x-amz-sns-message-type."""
    response = client.post("/sns", content=encode(notification(identity, ENCODED)))
    assert response.status_code == 200
    assert hand_over.calls == [[OBJECT]]


def confirmation(
    identity: SigningIdentity, kind: str = "SubscriptionConfirmation"
) -> dict[str, str]:
    return signed_message(
        identity, kind, "You have chosen to subscribe", timestamp=sns_timestamp(NOW)
    )


def test_subscription_confirmed(
    client: TestClient, identity: SigningIdentity, confirmed: list[SnsMessage]
) -> None:
    fields = confirmation(identity)
    response = post(client, fields)
    assert response.status_code == 200
    assert [(m.topic_arn, m.token) for m in confirmed] == [(TOPIC_ARN, fields["Token"])]


def test_failed_confirmation_answers_503(
    make_client: AppFactory, identity: SigningIdentity
) -> None:
    def refuse(msg: SnsMessage) -> None:
        raise RuntimeError("no credentials")

    client = make_client(confirm=refuse)
    assert post(client, confirmation(identity)).status_code == 503


def test_forged_confirmation_not_confirmed(
    client: TestClient, identity: SigningIdentity, confirmed: list[SnsMessage]
) -> None:
    fields = confirmation(identity)
    fields["SubscribeURL"] = "https://evil.example/"
    assert post(client, fields).status_code == 403
    assert confirmed == []


def test_unsubscribe_confirmation_visits_nothing(
    client: TestClient, identity: SigningIdentity, confirmed: list[SnsMessage]
) -> None:
    response = post(client, confirmation(identity, "UnsubscribeConfirmation"))
    assert response.status_code == 200
    assert confirmed == []


def test_unverified_mode_still_checks_topic(
    make_client: AppFactory, identity: SigningIdentity, hand_over: Recorder, fetch: Fetch
) -> None:
    client = make_client(verify=False)
    other = notification(identity, ENCODED, topic_arn=TOPIC_ARN + "-other")
    assert post(client, other).status_code == 403
    unsigned = {k: v for k, v in notification(identity, ENCODED).items() if "Sig" not in k}
    assert post(client, unsigned).status_code == 200
    assert hand_over.calls == [[OBJECT]]
    assert fetch.urls == []
    assert client.get("/healthz").json()["verify"] is False


# The default confirmer, with a fake SNS client and a fake visit.


class FakeSns:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, region: str) -> FakeSns:
        self.region = region
        return self

    def confirm_subscription(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append((self.region, kwargs))
        if self.error is not None:
            raise self.error
        return {"SubscriptionArn": TOPIC_ARN + ":sub"}


def confirmation_message(identity: SigningIdentity, subscribe_url: str | None = None) -> SnsMessage:
    fields = confirmation(identity)
    if subscribe_url is not None:
        fields["SubscribeURL"] = subscribe_url
    return parse_message(encode(fields))


def test_confirmer_uses_confirm_subscription(identity: SigningIdentity) -> None:
    sns, visited = FakeSns(), list[str]()
    msg = confirmation_message(identity)
    SubscriptionConfirmer(visit=visited.append, sns_client=sns)(msg)
    assert sns.calls == [(REGION, {"TopicArn": TOPIC_ARN, "Token": msg.token})]
    assert visited == []


def test_confirmer_falls_back_to_subscribe_url(identity: SigningIdentity) -> None:
    visited: list[str] = []
    msg = confirmation_message(identity)
    SubscriptionConfirmer(visit=visited.append, sns_client=FakeSns(RuntimeError("no creds")))(msg)
    assert visited == [msg.subscribe_url]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/?Action=ConfirmSubscription",
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com.evil.example/",
        "https://evil.example\\@sns.us-east-1.amazonaws.com/",
    ],
)
def test_confirmer_never_visits_other_hosts(identity: SigningIdentity, url: str) -> None:
    visited: list[str] = []
    confirmer = SubscriptionConfirmer(visit=visited.append, sns_client=FakeSns(RuntimeError()))
    with pytest.raises(RuntimeError):
        confirmer(confirmation_message(identity, url))
    assert visited == []


def test_confirmer_without_visit_only_calls_the_api(identity: SigningIdentity) -> None:
    confirmer = SubscriptionConfirmer(visit=None, sns_client=FakeSns(RuntimeError("down")))
    with pytest.raises(RuntimeError):
        confirmer(confirmation_message(identity))


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.usefixtures("fake_aws")
def test_default_confirmer_reaches_the_topic_region(identity: SigningIdentity) -> None:
    """Through real boto3 (moto checks that the topic exists in the region called)."""
    visited: list[str] = []
    with mock_aws():
        boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC_ARN.split(":")[-1])
        SubscriptionConfirmer(visit=visited.append)(confirmation_message(identity))
        assert visited == []
        other = confirmation(identity)
        other["TopicArn"] = other["TopicArn"].replace(REGION, "eu-west-1")
        other_region = parse_message(encode(other))
        with pytest.raises(ClientError, match="Topic does not exist"):
            SubscriptionConfirmer(visit=None)(other_region)


@pytest.mark.usefixtures("fake_aws")
def test_unverified_app_never_visits_subscribe_url(
    identity: SigningIdentity, hand_over: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With verification off, only ConfirmSubscription is tried, whatever the URL says."""
    visited: list[str] = []
    monkeypatch.setattr("docproc.webhook.visit_subscribe_url", visited.append)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    settings = Settings(_env_file=None, sns_verify=False)  # type: ignore[call-arg]
    with TestClient(create_app(settings, hand_over)) as client:
        assert post(client, confirmation(identity)).status_code == 503
    assert visited == []


# The de-duplication memory on its own.


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def refs(*names: str) -> list[ObjectRef]:
    return [ObjectRef(BUCKET, name, ETAG) for name in names]


def test_recent_objects_forget_after_ttl_and_beyond_capacity() -> None:
    ticks = Ticks()
    recent = RecentObjects(max_entries=2, ttl_seconds=60, clock=ticks)
    recent.settle(recent.reserve(refs("a", "b", "c")), handed_over=True)
    assert recent.reserve(refs("a", "b", "c")) == refs("a")  # a was evicted
    recent.settle(refs("a"), handed_over=False)
    ticks.now = 61
    assert recent.reserve(refs("b", "c")) == refs("b", "c")
    assert recent.handed_over == 3


def test_recent_objects_forget_failed_hand_overs() -> None:
    recent = RecentObjects()
    recent.settle(recent.reserve(refs("a")), handed_over=False)
    assert recent.reserve(refs("a")) == refs("a")


def test_recent_objects_time_out_behind_a_stuck_hand_over() -> None:
    recent = RecentObjects(wait_seconds=0.05)
    recent.reserve(refs("a"))
    with pytest.raises(HandOverError):
        recent.reserve(refs("b", "a"))
    assert recent.reserve(refs("b")) == refs("b")


# Concurrency and a real server: uvicorn on a loopback port, posted to as SNS does.


def test_real_server_as_sns_posts(
    fetch: Fetch, hand_over: Recorder, identity: SigningIdentity
) -> None:
    fields = notification(identity, ENCODED)
    with serving(make_app(fetch, hand_over)) as url, httpx.Client(base_url=url) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        headers = {**TEXT, "x-amz-sns-message-type": "Notification"}
        response = http.post("/sns", content=encode(fields), headers=headers)
        assert response.status_code == 200
        assert response.json() == {"handed_over": 1, "duplicates": 0}
        too_large = http.post("/sns", content=b" " * (MAX_BODY_BYTES + 1), headers=TEXT)
        assert too_large.status_code == 413
        assert http.post("/sns", content=b"{", headers=TEXT).status_code == 400
    assert hand_over.calls == [[OBJECT]]


def post_concurrently(url: str, bodies: list[bytes]) -> list[int]:
    barrier = threading.Barrier(len(bodies))

    def one(body: bytes) -> int:
        with httpx.Client(base_url=url, timeout=10) as http:
            barrier.wait()
            return http.post("/sns", content=body, headers=TEXT).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_concurrent_duplicates_handed_over_once(fetch: Fetch, identity: SigningIdentity) -> None:
    slow = Recorder(delay=0.2)
    bodies = [encode(notification(identity, ENCODED, message_id=f"id-{n}")) for n in range(8)]
    with serving(make_app(fetch, slow)) as url:
        assert post_concurrently(url, bodies) == [200] * 8
    assert slow.calls == [[OBJECT]]


def test_concurrent_duplicate_takes_over_a_failed_hand_over(
    fetch: Fetch, identity: SigningIdentity
) -> None:
    slow = Recorder(delay=0.2)
    slow.fail = 1
    bodies = [encode(notification(identity, ENCODED, message_id=f"id-{n}")) for n in range(2)]
    with serving(make_app(fetch, slow)) as url:
        assert sorted(post_concurrently(url, bodies)) == [200, 503]
    assert slow.calls == [[OBJECT]]
