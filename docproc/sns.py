"""Amazon SNS HTTP(S) deliveries: parsing, signature verification, S3 records.

Everything here treats the body as hostile until `Verifier.verify` has passed:
URLs are checked on the raw string and rebuilt from the checked parts, and the
string to sign uses the decoded JSON values exactly as sent (SPEC section 6).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import unquote_plus

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from docproc.aws import TopicArn
from docproc.models import ObjectRef
from docproc.settings import DEFAULT_SNS_MAX_AGE_SECONDS

MAX_CLOCK_AHEAD = timedelta(minutes=5)
CERT_CACHE_ENTRIES = 32
CERT_CACHE_TTL = timedelta(hours=1)
CERT_FETCH_TIMEOUT_SECONDS = 5.0
CERT_MAX_BYTES = 16 * 1024


class SnsError(Exception):
    """Base of every refusal; `status` is the HTTP answer the webhook gives."""

    status: ClassVar[int] = 400


class MalformedMessageError(SnsError):
    """Not JSON, or not shaped like an SNS message: the sender has a bug, not a grudge."""

    status: ClassVar[int] = 400


class ForbiddenMessageError(SnsError):
    """The message cannot be shown to come from SNS for a topic we accept."""

    status: ClassVar[int] = 403


class CertificateUnavailableError(SnsError):
    """The signing certificate could not be fetched: SNS should retry later."""

    status: ClassVar[int] = 503


class MessageType(StrEnum):
    NOTIFICATION = "Notification"
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"


@dataclass(frozen=True)
class SnsMessage:
    """An SNS envelope with the JSON string values as sent (never re-serialised).

    Signature fields are optional here so that an unverified deployment (an
    emulator that omits them) still parses; `Verifier.verify` requires them.
    """

    type: MessageType
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None
    signature_version: str | None = None
    signature: str | None = None
    signing_cert_url: str | None = None
    unsubscribe_url: str | None = None


_COMMON_FIELDS = ("MessageId", "TopicArn", "Message", "Timestamp")
_CONFIRMATION_FIELDS = ("SubscribeURL", "Token")
# Sent by SNS when the publisher set attributes; unsigned, and the only non-string value.
_MESSAGE_ATTRIBUTES = "MessageAttributes"


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Two values for one key would let the verifier and a consumer read different ones."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedMessageError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def parse_message(body: bytes) -> SnsMessage:
    """Decode an HTTP body into an `SnsMessage`, or raise `MalformedMessageError`."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedMessageError("body is not UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise MalformedMessageError("body is not a JSON object")
    fields: dict[str, str] = {}
    for key, value in data.items():
        if key == _MESSAGE_ATTRIBUTES and isinstance(value, dict):
            continue
        if not isinstance(value, str):
            raise MalformedMessageError(f"{key} is not a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedMessageError(f"{key} holds a lone surrogate") from exc
        fields[key] = value
    try:
        kind = MessageType(fields.get("Type", ""))
    except ValueError as exc:
        raise MalformedMessageError("Type is not an SNS message type") from exc
    required: tuple[str, ...] = _COMMON_FIELDS
    if kind is not MessageType.NOTIFICATION:
        required += _CONFIRMATION_FIELDS
    missing = [name for name in required if name not in fields]
    if missing:
        raise MalformedMessageError(f"{kind} lacks {', '.join(missing)}")
    return SnsMessage(
        type=kind,
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        timestamp=fields["Timestamp"],
        subject=fields.get("Subject"),
        subscribe_url=fields.get("SubscribeURL"),
        token=fields.get("Token"),
        signature_version=fields.get("SignatureVersion"),
        signature=fields.get("Signature"),
        signing_cert_url=fields.get("SigningCertURL"),
        unsubscribe_url=fields.get("UnsubscribeURL"),
    )


def canonical_string(msg: SnsMessage) -> bytes:
    """The bytes SNS signed: `Name\\nValue\\n` per signed field, in AWS's order."""
    if msg.type is MessageType.NOTIFICATION:
        pairs = [("Message", msg.message), ("MessageId", msg.message_id)]
        if msg.subject is not None:
            pairs.append(("Subject", msg.subject))
        pairs += [("Timestamp", msg.timestamp), ("TopicArn", msg.topic_arn), ("Type", msg.type)]
    else:
        pairs = [
            ("Message", msg.message),
            ("MessageId", msg.message_id),
            ("SubscribeURL", msg.subscribe_url or ""),
            ("Timestamp", msg.timestamp),
            ("Token", msg.token or ""),
            ("TopicArn", msg.topic_arn),
            ("Type", msg.type),
        ]
    return "".join(f"{name}\n{value}\n" for name, value in pairs).encode("utf-8")


# A region always ends in a number; that alone keeps out look-alike hosts such as
# sns.s3-ap-southeast-2.amazonaws.com (an S3 bucket named "sns").
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_TOPIC_REGION = re.compile(_REGION)
_TOPIC_ACCOUNT = re.compile(r"[0-9]{12}")
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
_DOMAINS = {"aws": "amazonaws.com", "aws-us-gov": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}
_HOST = rf"sns\.({_REGION})\.(amazonaws\.com(?:\.cn)?)"
_CERT_URL = re.compile(rf"https://{_HOST}/SimpleNotificationService-([0-9a-fA-F]{{1,128}})\.pem")
# Path and query only (SubscribeURL carries Action and Token): no fragment, no space, no backslash.
_SUBSCRIBE_URL = re.compile(rf"https://{_HOST}/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*")


def _topic_endpoint(topic_arn: str) -> tuple[str, str]:
    """(region, domain) of the SNS endpoint that signs for this topic."""
    try:
        arn = TopicArn.parse(topic_arn)
    except ValueError:
        raise ForbiddenMessageError("TopicArn is not an SNS topic ARN") from None
    if not (
        arn.partition in _DOMAINS
        and _TOPIC_REGION.fullmatch(arn.region)
        and _TOPIC_ACCOUNT.fullmatch(arn.account)
        and _TOPIC_NAME.fullmatch(arn.name)
    ):
        raise ForbiddenMessageError("TopicArn is not an SNS topic ARN")
    return arn.region, _DOMAINS[arn.partition]


def check_cert_url(url: str, topic_arn: str) -> str:
    """Return the URL to fetch, rebuilt from parts checked on the raw string.

    Only the regional SNS endpoint of the topic's own region qualifies, as in
    the Java SDKs; there is no parser whose reading could differ from the fetch.
    """
    region, domain = _topic_endpoint(topic_arn)
    match = _CERT_URL.fullmatch(url)
    if match is None or match.group(1) != region or match.group(2) != domain:
        raise ForbiddenMessageError("SigningCertURL is not this topic's SNS endpoint")
    return f"https://sns.{region}.{domain}/SimpleNotificationService-{match.group(3)}.pem"


def subscribe_host_ok(url: str, topic_arn: str) -> bool:
    """Whether a SubscribeURL may be visited: the topic's SNS endpoint and nothing else."""
    try:
        region, domain = _topic_endpoint(topic_arn)
    except ForbiddenMessageError:
        return False
    match = _SUBSCRIBE_URL.fullmatch(url)
    return match is not None and match.group(1) == region and match.group(2) == domain


def check_topic(topic_arn: str, accepted: Collection[str]) -> None:
    """Refuse topics outside `accepted` (empty = any); applies even without verification."""
    if accepted and topic_arn not in accepted:
        raise ForbiddenMessageError("topic not accepted")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def fetch_certificate(url: str) -> bytes:
    """`CertificateStore`'s default download: a certificate is a couple of KiB at a fixed place.

    No redirects (the checked URL is the only place trusted), no compression
    (nothing can inflate past the size limit), a short timeout (SNS waits 15 s).
    """
    with httpx.stream(
        "GET",
        url,
        headers={"Accept-Encoding": "identity"},
        timeout=CERT_FETCH_TIMEOUT_SECONDS,
        follow_redirects=False,
    ) as r:
        if r.status_code != httpx.codes.OK:
            raise CertificateUnavailableError(f"certificate fetch answered {r.status_code}")
        body = bytearray()
        for chunk in r.iter_raw():
            body += chunk
            if len(body) > CERT_MAX_BYTES:
                raise CertificateUnavailableError("certificate larger than expected")
        return bytes(body)


# Exactly one block, nothing but ASCII whitespace around it (aws-sdk-ruby's 2021 fix).
_PEM = re.compile(
    rb"[ \t\r\n]*-----BEGIN CERTIFICATE-----\r?\n"
    rb"[A-Za-z0-9+/=\r\n]+"
    rb"-----END CERTIFICATE-----[ \t\r\n]*"
)


def _expected_names(url: str) -> frozenset[str]:
    """Names an SNS signing certificate may carry for this endpoint.

    The Java v1 SDK expects `sns.amazonaws.com`, or `sns-<region>.<domain>` in
    China and GovCloud; the regional spelling of the host is accepted as well.
    """
    match = _CERT_URL.fullmatch(url)
    if match is None:
        raise ForbiddenMessageError("certificate URL was not checked")
    region, domain = match.group(1), match.group(2)
    return frozenset({f"sns.{domain}", f"sns.{region}.{domain}", f"sns-{region}.{domain}"})


def _cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [a.value for a in common if isinstance(a.value, str)]
    return san.get_values_for_type(x509.DNSName)


@dataclass(frozen=True)
class _CachedCert:
    cert: x509.Certificate
    key: rsa.RSAPublicKey
    expires: datetime


def _load_certificate(body: bytes, expected_names: frozenset[str]) -> _CachedCert:
    """Parse and vet a certificate; `expires` is left at its not_valid_after."""
    if _PEM.fullmatch(body) is None:
        raise ForbiddenMessageError("certificate is not exactly one PEM block")
    try:
        cert = x509.load_pem_x509_certificate(body)
        names = _cert_names(cert)
        key = cert.public_key()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise ForbiddenMessageError("certificate does not parse") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ForbiddenMessageError("certificate key is not RSA")
    if expected_names.isdisjoint(names):
        raise ForbiddenMessageError("certificate is not issued to SNS")
    return _CachedCert(cert, key, cert.not_valid_after_utc)


class CertificateStore:
    """Signing certificates by URL: bounded LRU, expiring, one download per URL at a time.

    Thread-safe, since the webhook may verify from a thread pool. Failed
    downloads and refused certificates are not cached. `now` returns an aware
    UTC datetime; tests inject it to replay AWS-signed messages at their time.
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes] = fetch_certificate,
        now: Callable[[], datetime] = _utc_now,
        max_entries: int = CERT_CACHE_ENTRIES,
        ttl: timedelta = CERT_CACHE_TTL,
    ) -> None:
        self.now = now
        self._fetch = fetch
        self._max_entries = max_entries
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, _CachedCert] = OrderedDict()
        # url -> (lock, number of callers holding or waiting for it)
        self._url_locks: dict[str, tuple[threading.Lock, int]] = {}

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """RSA key of the certificate at `url` (a URL returned by `check_cert_url`)."""
        entry = self._entry(url)
        moment = self.now()
        if not entry.cert.not_valid_before_utc <= moment <= entry.cert.not_valid_after_utc:
            raise ForbiddenMessageError("certificate outside its validity dates")
        return entry.key

    def _cached(self, url: str) -> _CachedCert | None:
        with self._lock:
            entry = self._cache.get(url)
            if entry is None:
                return None
            if entry.expires <= self.now():
                del self._cache[url]
                return None
            self._cache.move_to_end(url)
            return entry

    def _entry(self, url: str) -> _CachedCert:
        entry = self._cached(url)
        if entry is not None:
            return entry
        url_lock = self._acquire_url_lock(url)
        try:
            with url_lock:
                return self._cached(url) or self._download(url)
        finally:
            self._release_url_lock(url)

    def _download(self, url: str) -> _CachedCert:
        expected_names = _expected_names(url)
        try:
            body = self._fetch(url)
        except SnsError:
            raise
        except Exception as exc:
            raise CertificateUnavailableError("certificate could not be fetched") from exc
        loaded = _load_certificate(body, expected_names)
        entry = replace(loaded, expires=min(self.now() + self._ttl, loaded.expires))
        with self._lock:
            self._cache[url] = entry
            self._cache.move_to_end(url)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return entry

    def _acquire_url_lock(self, url: str) -> threading.Lock:
        with self._lock:
            lock, users = self._url_locks.get(url, (threading.Lock(), 0))
            self._url_locks[url] = (lock, users + 1)
            return lock

    def _release_url_lock(self, url: str) -> None:
        with self._lock:
            lock, users = self._url_locks[url]
            if users == 1:
                del self._url_locks[url]
            else:
                self._url_locks[url] = (lock, users - 1)


_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,  # SignatureVersion 1 is SHA1withRSA by AWS's definition
    "2": hashes.SHA256,
}


def _parse_timestamp(value: str) -> datetime:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ForbiddenMessageError("Timestamp is not an ISO 8601 UTC time")
    try:
        moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ForbiddenMessageError("Timestamp is not a real time") from exc
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    return moment + timedelta(microseconds=int(fraction))


def _strict_base64(value: str) -> bytes:
    """Only the canonical encoding: no whitespace, stray padding or non-zero pad bits."""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ForbiddenMessageError("Signature is not base64") from exc
    if not decoded or base64.b64encode(decoded).decode("ascii") != value:
        raise ForbiddenMessageError("Signature is not canonical base64")
    return decoded


class Verifier:
    """Decides whether a parsed message really comes from SNS for a topic we accept."""

    def __init__(
        self,
        store: CertificateStore,
        topic_arns: Collection[str] = (),
        max_age_seconds: int = DEFAULT_SNS_MAX_AGE_SECONDS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._topics = frozenset(topic_arns)
        self._max_age = timedelta(seconds=max_age_seconds)
        self._now = now or store.now

    def check_topic(self, msg: SnsMessage) -> None:
        check_topic(msg.topic_arn, self._topics)

    def verify(self, msg: SnsMessage) -> None:
        """Raise `ForbiddenMessageError` (or `CertificateUnavailableError`) unless genuine.

        Cheap checks run first so that a forged message never causes a download.
        """
        self.check_topic(msg)
        hash_factory = _HASHES.get(msg.signature_version or "")
        if hash_factory is None:
            raise ForbiddenMessageError("unsupported SignatureVersion")
        if msg.signature is None or msg.signing_cert_url is None:
            raise ForbiddenMessageError("Signature or SigningCertURL missing")
        sent = _parse_timestamp(msg.timestamp)
        moment = self._now()
        if sent < moment - self._max_age:
            raise ForbiddenMessageError("Timestamp older than the replay window")
        if sent > moment + MAX_CLOCK_AHEAD:
            raise ForbiddenMessageError("Timestamp in the future")
        url = check_cert_url(msg.signing_cert_url, msg.topic_arn)
        signature = _strict_base64(msg.signature)
        key = self._store.public_key(url)
        try:
            key.verify(signature, canonical_string(msg), padding.PKCS1v15(), hash_factory())
        except InvalidSignature as exc:
            raise ForbiddenMessageError("signature does not match") from exc


def _s3_ref(record: Any) -> ObjectRef | None:
    """One ObjectCreated record as an ObjectRef, None for anything else or odd."""
    if not isinstance(record, dict):
        return None
    event = record.get("eventName")
    s3 = record.get("s3")
    if not isinstance(event, str) or not event.startswith("ObjectCreated:"):
        return None
    if not isinstance(s3, dict):
        return None
    bucket_info, object_info = s3.get("bucket"), s3.get("object")
    if not isinstance(bucket_info, dict) or not isinstance(object_info, dict):
        return None
    bucket, raw_key = bucket_info.get("name"), object_info.get("key")
    etag = object_info.get("eTag")
    if not isinstance(bucket, str) or not isinstance(raw_key, str):
        return None
    if etag is not None and not isinstance(etag, str):
        return None
    try:
        key = unquote_plus(raw_key, errors="strict")
        for text in (bucket, key, etag or ""):
            text.encode("utf-8")
    except UnicodeError:
        return None
    if not bucket or not key:
        return None
    return ObjectRef(bucket=bucket, key=key, etag=(etag or "").strip('"') or None)


def s3_object_refs(msg: SnsMessage) -> list[ObjectRef]:
    """Objects created according to an S3 event Notification, in order, without repeats.

    S3 URL-encodes keys form-style ('+' is a space). Never raises: a
    notification that is not an S3 event (s3:TestEvent included) names nothing.
    """
    if msg.type is not MessageType.NOTIFICATION:
        return []
    try:
        event = json.loads(msg.message)
    except (ValueError, RecursionError):
        return []
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return []
    refs: list[ObjectRef] = []
    for record in records:
        ref = _s3_ref(record)
        if ref is not None and ref not in refs:
            refs.append(ref)
    return refs
