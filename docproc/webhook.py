"""The SNS subscriber of SPEC section 6: refuse what is not SNS, hand work over, answer fast.

Plain Python, no Prefect: the caller passes `hand_over`, so tests give a fake and
`serve` gives `deployments.handover.PrefectHandOver`, which creates each run from its
deployment and then posts the events. The pipeline never runs here, since
SNS waits 15 s at most before it retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from docproc import aws
from docproc.models import ObjectRef
from docproc.settings import Settings
from docproc.sns import (
    CertificateStore,
    ForbiddenMessageError,
    MalformedMessageError,
    MessageType,
    SnsError,
    SnsMessage,
    Verifier,
    check_topic,
    parse_message,
    s3_object_refs,
    subscribe_host_ok,
)

if TYPE_CHECKING:
    import boto3

MAX_BODY_BYTES = 256 * 1024
MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"
RECENT_ENTRIES = 10_000
RECENT_TTL_SECONDS = 3600.0
# Below SNS's 15 s timeout, so that a delivery stuck behind another still gets its 503.
IN_FLIGHT_WAIT_SECONDS = 5.0
CONFIRM_TIMEOUT_SECONDS = 5.0
# Requests handled at once, each in a thread of its own. More than anyio's default 40:
# a hand-over that gathers a burst into one group (docproc/grouping.py) holds every
# request of the group until the group is handed over: room for two full groups
# (grouping.MAX_GROUP) and the requests that arrive meanwhile.
HANDLER_THREADS = 640

logger = logging.getLogger("docproc.webhook")

HandOver = Callable[[Sequence[ObjectRef]], None]
Confirm = Callable[[SnsMessage], None]


class HandOverError(Exception):
    """The work could not be handed over now (Prefect API down): SNS must retry."""


class PayloadTooLargeError(SnsError):
    """SPEC's cap: an S3 event envelope is a few KiB, so anything this big is refused unread."""

    status: ClassVar[int] = 413


class RecentObjects:
    """Object versions handed over lately, so that repeated deliveries cost no second hand-over.

    Deduplicates on (bucket, key, etag), never on MessageId: an S3 retry is a new
    SNS message. Bounded and forgetful, so only an optimisation; the `documents`
    key in the database is the guarantee. A version is recorded only once its
    hand-over succeeded, and reserved meanwhile, so that a concurrent duplicate
    waits for the outcome instead of handing over a second time or losing it.
    """

    def __init__(
        self,
        max_entries: int = RECENT_ENTRIES,
        ttl_seconds: float = RECENT_TTL_SECONDS,
        wait_seconds: float = IN_FLIGHT_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._wait = wait_seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._done: OrderedDict[ObjectRef, float] = OrderedDict()
        self._pending: set[ObjectRef] = set()
        self.handed_over = 0

    def reserve(self, refs: Sequence[ObjectRef]) -> list[ObjectRef]:
        """The refs not handed over lately, now reserved for the caller, who must `settle` them.

        All or nothing, so two deliveries naming the same objects in another
        order cannot wait for each other.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: self._pending.isdisjoint(refs), self._wait):
                raise HandOverError("another delivery is still handing the same object over")
            fresh = [ref for ref in refs if not self._seen(ref)]
            self._pending.update(fresh)
            return fresh

    def settle(self, refs: Sequence[ObjectRef], handed_over: bool) -> None:
        """Release reserved refs; record them only when handed over, so a failure is retried."""
        with self._changed:
            self._pending.difference_update(refs)
            if handed_over:
                moment = self._clock()
                for ref in refs:
                    self._done[ref] = moment
                    self._done.move_to_end(ref)
                while len(self._done) > self._max_entries:
                    self._done.popitem(last=False)
                self.handed_over += len(refs)
            self._changed.notify_all()

    def _seen(self, ref: ObjectRef) -> bool:
        recorded = self._done.get(ref)
        if recorded is None:
            return False
        if self._clock() - recorded > self._ttl:
            del self._done[ref]
            return False
        self._done.move_to_end(ref)
        return True


def sns_clients(
    session: boto3.session.Session | None = None, client_params: Mapping[str, Any] | None = None
) -> Callable[[str], Any]:
    """SNS clients in a topic's region, with the credentials and client parameters given.

    Without them, boto3's own chain: credentials, and `AWS_ENDPOINT_URL` for an emulator.
    """

    def client(region: str) -> Any:
        return aws.client(
            "sns",
            session,
            client_params=client_params,
            region_name=region,
            max_attempts=2,
            connect_timeout=CONFIRM_TIMEOUT_SECONDS,
            read_timeout=CONFIRM_TIMEOUT_SECONDS,
        )

    return client


def visit_subscribe_url(url: str) -> None:
    """The fallback confirmation: a GET on a URL that `subscribe_host_ok` has passed."""
    response = httpx.get(url, timeout=CONFIRM_TIMEOUT_SECONDS, follow_redirects=False)
    response.raise_for_status()


class SubscriptionConfirmer:
    """Confirms through the SNS API, so that no URL named by a message need be fetched.

    `visit` is the fallback for when the API call fails (no credentials, say);
    None turns it off, as it must be when messages are not verified.
    """

    def __init__(
        self,
        visit: Callable[[str], None] | None = visit_subscribe_url,
        sns_client: Callable[[str], Any] | None = None,
    ) -> None:
        self._visit = visit
        self._sns_client = sns_client or sns_clients()

    def __call__(self, msg: SnsMessage) -> None:
        try:
            client = self._sns_client(aws.TopicArn.parse(msg.topic_arn).region)
            client.confirm_subscription(TopicArn=msg.topic_arn, Token=msg.token)
            return
        except Exception as exc:
            url = msg.subscribe_url
            if self._visit is None or url is None or not subscribe_host_ok(url, msg.topic_arn):
                raise
            logger.warning("ConfirmSubscription failed (%s); visiting SubscribeURL instead", exc)
        self._visit(url)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed `limit` (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise MalformedMessageError("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLargeError(f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(f"body larger than {limit} bytes")
    return bytes(body)


Reply = tuple[int, dict[str, Any]]


class _Endpoint:
    """`POST /sns` once the body is read: blocking work, run in a worker thread."""

    def __init__(
        self,
        settings: Settings,
        hand_over: HandOver,
        confirm: Confirm,
        verifier: Verifier | None,
    ) -> None:
        self._topics = settings.topic_arns
        self._hand_over = hand_over
        self._confirm = confirm
        self._verifier = verifier
        self.recent = RecentObjects()

    def handle(self, body: bytes, header_type: str | None) -> Reply:
        msg: SnsMessage | None = None
        try:
            with _unexpected_as(MalformedMessageError("body could not be read as SNS"), msg):
                msg = parse_message(body)
            if header_type is not None and header_type != msg.type:
                raise MalformedMessageError(f"{MESSAGE_TYPE_HEADER} disagrees with Type")
            if self._verifier is None:
                check_topic(msg.topic_arn, self._topics)
            else:
                with _unexpected_as(ForbiddenMessageError("message could not be verified"), msg):
                    self._verifier.verify(msg)
            return self._dispatch(msg)
        except SnsError as exc:
            return _refuse(exc, msg)
        except Exception:
            logger.exception("POST /sns failed%s", _describe(msg))
            return _reply(500, {"error": "internal error"}, "bug", msg)

    def _dispatch(self, msg: SnsMessage) -> Reply:
        if msg.type is MessageType.SUBSCRIPTION_CONFIRMATION:
            try:
                self._confirm(msg)
            except Exception as exc:
                return _reply(
                    503, {"error": "subscription not confirmed"}, f"not confirmed: {exc!r}", msg
                )
            return _reply(200, {"status": "confirmed"}, "subscription confirmed", msg)
        if msg.type is MessageType.UNSUBSCRIBE_CONFIRMATION:
            return _reply(200, {"status": "ignored"}, "unsubscribed, nothing visited", msg)
        return self._notification(msg)

    def _notification(self, msg: SnsMessage) -> Reply:
        refs = s3_object_refs(msg)
        try:
            fresh = self.recent.reserve(refs)
        except HandOverError as exc:
            return _reply(503, {"error": str(exc)}, str(exc), msg)
        if fresh:
            handed_over = False
            try:
                self._hand_over(fresh)
                handed_over = True
            except HandOverError as exc:
                return _reply(
                    503, {"error": "work not handed over"}, f"hand-over failed: {exc!r}", msg
                )
            finally:
                self.recent.settle(fresh, handed_over)
        counts = {"handed_over": len(fresh), "duplicates": len(refs) - len(fresh)}
        outcome = " ".join(f"{name}={n}" for name, n in counts.items())
        return _reply(200, counts, outcome if refs else "no object created", msg)


@contextmanager
def _unexpected_as(error: SnsError, msg: SnsMessage | None) -> Iterator[None]:
    """A bug met by hostile input still answers as a refusal: never a 500, never a traceback."""
    try:
        yield
    except SnsError:
        raise
    except Exception as exc:
        logger.exception("unexpected error%s", _describe(msg))
        raise error from exc


def _describe(msg: SnsMessage | None) -> str:
    """Unverified values, hence %r: a newline in them cannot forge a log line."""
    if msg is None:
        return ""
    return f" {msg.type} MessageId={msg.message_id!r} TopicArn={msg.topic_arn!r}"


def _reply(status: int, payload: dict[str, Any], outcome: str, msg: SnsMessage | None) -> Reply:
    """Log the request's outcome, as one line, and return the answer."""
    level = logging.INFO if status < 400 else logging.WARNING
    logger.log(level, "POST /sns -> %d %s%s", status, outcome, _describe(msg))
    return status, payload


def _refuse(exc: SnsError, msg: SnsMessage | None) -> Reply:
    return _reply(exc.status, {"error": str(exc)}, str(exc), msg)


def create_app(
    settings: Settings,
    hand_over: HandOver,
    *,
    certificates: CertificateStore | None = None,
    confirm: Confirm | None = None,
    sns_client: Callable[[str], Any] | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The webhook as an ASGI app; the outside world (`hand_over`, certificates, clock) comes in.

    `sns_client` makes the client that confirms subscriptions (`sns_clients`, given the
    credentials block's session and parameters); `now` drives the Timestamp check, and
    the certificate dates of a store made here.
    """
    verifier: Verifier | None = None
    if settings.sns_verify:
        store = certificates or (CertificateStore() if now is None else CertificateStore(now=now))
        verifier = Verifier(store, settings.topic_arns, settings.sns_max_age_seconds, now=now)
    else:
        logger.warning("SNS signatures are NOT verified (DOCPROC_SNS_VERIFY=false)")
    if confirm is None:
        confirm = SubscriptionConfirmer(
            visit=visit_subscribe_url if settings.sns_verify else None, sns_client=sns_client
        )
    endpoint = _Endpoint(settings, hand_over, confirm, verifier)
    limiter = CapacityLimiter(HANDLER_THREADS)
    # No docs routes: the only client is SNS.
    app = FastAPI(title="docproc webhook", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "verify": settings.sns_verify,
            "handed_over": endpoint.recent.handed_over,
        }

    @app.post("/sns")
    async def sns(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, MAX_BODY_BYTES)
        except SnsError as exc:
            # No "Connection: close": closing on unread bytes resets the connection, and the
            # client would never see its 413; the server discards the rest, unbuffered.
            status, payload = _refuse(exc, None)
        except ClientDisconnect:
            status, payload = _reply(400, {"error": "client went away"}, "client went away", None)
        else:
            header_type = request.headers.get(MESSAGE_TYPE_HEADER)
            status, payload = await to_thread.run_sync(
                endpoint.handle, body, header_type, limiter=limiter
            )
        return JSONResponse(payload, status)

    return app
