"""docproc.sns with messages signed here, by a key and certificate made for the test."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.sns_signing import (
    ACCOUNT,
    CERT_URL,
    TOPIC_ARN,
    SigningIdentity,
    encode,
    make_identity,
    s3_event,
    signed_message,
    sns_timestamp,
)
from docproc.models import ObjectRef
from docproc.sns import (
    CERT_MAX_BYTES,
    CertificateStore,
    CertificateUnavailableError,
    ForbiddenMessageError,
    MalformedMessageError,
    MessageType,
    SnsError,
    Verifier,
    canonical_string,
    check_cert_url,
    check_topic,
    fetch_certificate,
    parse_message,
    s3_object_refs,
    subscribe_host_ok,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sns"
NOW = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
CN_TOPIC = "arn:aws-cn:sns:cn-north-1:123456789012:docproc-source"
GOV_TOPIC = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:docproc-source"


class Clock:
    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class CountingFetch:
    """Serves one certificate body, counting downloads; `delay` widens race windows."""

    def __init__(self, body: bytes, delay: float = 0.0) -> None:
        self.body = body
        self.delay = delay
        self.urls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bytes:
        with self._lock:
            self.urls.append(url)
        time.sleep(self.delay)
        return self.body


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return identity_for()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetch(identity: SigningIdentity) -> CountingFetch:
    return CountingFetch(identity.pem)


@pytest.fixture
def verifier(fetch: CountingFetch, clock: Clock) -> Verifier:
    return Verifier(CertificateStore(fetch=fetch, now=clock))


def identity_for(common_name: str = "sns.amazonaws.com", key_seed: int = 0) -> SigningIdentity:
    """A certificate valid around NOW, the tests' clock."""
    return make_identity(
        common_name,
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=30),
        key_seed=key_seed,
    )


def one_char_changed(value: str) -> str:
    """Change the last-but-one character (the last of a Timestamp is its Z)."""
    new = "0" if value[-2] != "0" else "1"
    return value[:-2] + new + value[-1]


def body(identity: SigningIdentity, **kwargs: str) -> bytes:
    kwargs.setdefault("timestamp", sns_timestamp(NOW))
    return encode(signed_message(identity, **kwargs))


# --- self-signed messages: both versions, all three types ---------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    ("message_type", "subject"),
    [
        ("Notification", None),
        ("Notification", "Amazon S3 Notification"),
        ("SubscriptionConfirmation", None),
        ("UnsubscribeConfirmation", None),
    ],
)
def test_own_signed_messages_verify(
    identity: SigningIdentity,
    verifier: Verifier,
    fetch: CountingFetch,
    version: str,
    message_type: str,
    subject: str | None,
) -> None:
    fields = signed_message(
        identity,
        message_type,
        version=version,
        timestamp=sns_timestamp(NOW),
        **({"subject": subject} if subject else {}),
    )
    msg = parse_message(encode(fields))
    assert msg.type == message_type
    verifier.verify(msg)
    assert fetch.urls == [CERT_URL]


def test_unicode_and_escapes_are_signed_as_decoded(
    identity: SigningIdentity, verifier: Verifier
) -> None:
    message = 'Ünïcode "quoted"\n\ttabbed \\ backslash 💡'
    fields = signed_message(identity, message=message, timestamp=sns_timestamp(NOW))
    raw = json.dumps(fields, ensure_ascii=True).encode()
    assert b"\\u00dc" in raw
    verifier.verify(parse_message(raw))


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "TopicArn", "Token"])
def test_tampered_confirmation_refused(
    identity: SigningIdentity, verifier: Verifier, field: str
) -> None:
    fields = signed_message(identity, "SubscriptionConfirmation", timestamp=sns_timestamp(NOW))
    fields[field] = one_char_changed(fields[field])
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verifier.verify(parse_message(encode(fields)))


def test_tampered_subscribe_url_refused(identity: SigningIdentity, verifier: Verifier) -> None:
    fields = signed_message(identity, "SubscriptionConfirmation", timestamp=sns_timestamp(NOW))
    fields["SubscribeURL"] = fields["SubscribeURL"].replace("Token=", "Token=x")
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verifier.verify(parse_message(encode(fields)))


def test_message_signed_by_another_key_refused(clock: Clock, identity: SigningIdentity) -> None:
    impostor = identity_for(key_seed=1)
    verifier = Verifier(CertificateStore(fetch=CountingFetch(identity.pem), now=clock))
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verifier.verify(parse_message(body(impostor)))


@pytest.mark.parametrize("signature", ["", "not base64!", "QUJD\nREVG", "QUJDREVG=", " QUJDREVG"])
def test_signature_not_strict_base64_refused(
    identity: SigningIdentity, verifier: Verifier, fetch: CountingFetch, signature: str
) -> None:
    fields = signed_message(identity, timestamp=sns_timestamp(NOW))
    fields["Signature"] = signature
    with pytest.raises(ForbiddenMessageError):
        verifier.verify(parse_message(encode(fields)))
    assert fetch.urls == []


# --- SignatureVersion ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3", "", "01", "1 ", "SHA256", None])
def test_unsupported_signature_version_refused(
    identity: SigningIdentity, verifier: Verifier, fetch: CountingFetch, version: str | None
) -> None:
    fields = signed_message(identity, timestamp=sns_timestamp(NOW))
    if version is None:
        del fields["SignatureVersion"]
    else:
        fields["SignatureVersion"] = version
    with pytest.raises(ForbiddenMessageError, match="SignatureVersion"):
        verifier.verify(parse_message(encode(fields)))
    assert fetch.urls == []


@pytest.mark.parametrize("field", ["Signature", "SigningCertURL"])
def test_missing_signature_fields_refused(
    identity: SigningIdentity, verifier: Verifier, field: str
) -> None:
    fields = signed_message(identity, timestamp=sns_timestamp(NOW))
    del fields[field]
    msg = parse_message(encode(fields))  # an emulator may omit them: parsing still works
    with pytest.raises(ForbiddenMessageError):
        verifier.verify(msg)


# --- Timestamp ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(seconds=-3900), True),
        (timedelta(seconds=-3901), False),
        (timedelta(days=-400), False),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, milliseconds=1), False),
        (timedelta(days=1), False),
    ],
)
def test_timestamp_window(
    identity: SigningIdentity, verifier: Verifier, offset: timedelta, accepted: bool
) -> None:
    msg = parse_message(body(identity, timestamp=sns_timestamp(NOW + offset)))
    if accepted:
        verifier.verify(msg)
    else:
        with pytest.raises(ForbiddenMessageError, match="Timestamp"):
            verifier.verify(msg)


def test_max_age_is_configurable(identity: SigningIdentity, fetch: CountingFetch) -> None:
    store = CertificateStore(fetch=fetch, now=Clock())
    msg = parse_message(body(identity, timestamp=sns_timestamp(NOW - timedelta(seconds=61))))
    Verifier(store).verify(msg)
    with pytest.raises(ForbiddenMessageError, match="older"):
        Verifier(store, max_age_seconds=60).verify(msg)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2025-03-01 12:00:00.123Z",
        "2025-03-01T12:00:00.123+00:00",
        "2025-03-01T12:00:00.123",
        "2025-02-30T12:00:00.123Z",
        "2025-03-01T12:00:00.Z",
        "２０２５-03-01T12:00:00.123Z",
        "2025-03-01T12:00:00.123Z\n",
        "",
    ],
)
def test_unreadable_timestamp_refused(
    identity: SigningIdentity, verifier: Verifier, timestamp: str
) -> None:
    fields = signed_message(identity, timestamp=timestamp)
    with pytest.raises(ForbiddenMessageError, match="Timestamp"):
        verifier.verify(parse_message(encode(fields)))


def test_timestamp_kept_exactly_as_sent(identity: SigningIdentity, verifier: Verifier) -> None:
    # SNS sends milliseconds; re-serialising would drop the trailing zeros and break the signature.
    msg = parse_message(body(identity, timestamp="2025-03-01T12:00:00.000Z"))
    assert msg.timestamp == "2025-03-01T12:00:00.000Z"
    verifier.verify(msg)


# --- topics -------------------------------------------------------------------------------


def test_unknown_topic_refused_before_any_download(
    identity: SigningIdentity, fetch: CountingFetch, clock: Clock
) -> None:
    verifier = Verifier(CertificateStore(fetch=fetch, now=clock), topic_arns=[f"{TOPIC_ARN}-other"])
    with pytest.raises(ForbiddenMessageError, match="topic"):
        verifier.verify(parse_message(body(identity)))
    assert fetch.urls == []


def test_accepted_topic_passes(identity: SigningIdentity, fetch: CountingFetch) -> None:
    verifier = Verifier(
        CertificateStore(fetch=fetch, now=Clock()), topic_arns=[TOPIC_ARN, f"{TOPIC_ARN}-b"]
    )
    msg = parse_message(body(identity))
    verifier.check_topic(msg)
    verifier.verify(msg)


def test_topic_check_stands_alone() -> None:
    check_topic(TOPIC_ARN, [])
    check_topic(TOPIC_ARN, {TOPIC_ARN})
    with pytest.raises(ForbiddenMessageError):
        check_topic(TOPIC_ARN, {f"{TOPIC_ARN}2"})
    with pytest.raises(ForbiddenMessageError):
        check_topic(TOPIC_ARN.upper(), {TOPIC_ARN})


# --- SigningCertURL -----------------------------------------------------------------------

GOOD_PATH = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"


@pytest.mark.parametrize(
    ("url", "topic_arn"),
    [
        (CERT_URL, TOPIC_ARN),
        (f"https://sns.cn-north-1.amazonaws.com.cn{GOOD_PATH}", CN_TOPIC),
        (f"https://sns.us-gov-west-1.amazonaws.com{GOOD_PATH}", GOV_TOPIC),
        (
            f"https://sns.ap-southeast-2.amazonaws.com{GOOD_PATH}",
            TOPIC_ARN.replace("us-east-1", "ap-southeast-2"),
        ),
        (f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}", f"{TOPIC_ARN}.fifo"),
    ],
)
def test_good_cert_urls(url: str, topic_arn: str) -> None:
    assert check_cert_url(url, topic_arn) == url


@pytest.mark.parametrize(
    "topic_arn",
    [
        TOPIC_ARN.replace(":aws:", ":aws-eu:"),  # a partition with no SNS domain we know
        TOPIC_ARN.replace("us-east-1", "us-east"),  # a region always ends in a number
        TOPIC_ARN.replace("us-east-1", "s3-us-east-1"),
        TOPIC_ARN.replace(ACCOUNT, ACCOUNT[:-1]),  # an account id is 12 digits
        f"{TOPIC_ARN}.fifo.fifo",
        f"{TOPIC_ARN}/x",
        TOPIC_ARN.replace(":sns:", ":sqs:"),
    ],
)
def test_cert_urls_of_topics_that_are_not_sns_topics_are_refused(topic_arn: str) -> None:
    """Whatever the URL, the topic's ARN must name an SNS endpoint first."""
    with pytest.raises(ForbiddenMessageError, match="TopicArn is not an SNS topic ARN"):
        check_cert_url(CERT_URL, topic_arn)


BAD_CERT_URLS = [
    f"http://sns.us-east-1.amazonaws.com{GOOD_PATH}",
    f"HTTPS://sns.us-east-1.amazonaws.com{GOOD_PATH}",
    f"https://SNS.us-east-1.amazonaws.com{GOOD_PATH}",
    f"https://evil.com{GOOD_PATH}",
    f"https://sns.us-east-1.amazonaws.com.evil.com{GOOD_PATH}",
    f"https://sns.us-east-1.amazonaws.com.cn{GOOD_PATH}",
    f"https://sns.s3-ap-southeast-2.amazonaws.com{GOOD_PATH}",
    f"https://sns.amazonaws.com{GOOD_PATH}",
    f"https://s3.amazonaws.com{GOOD_PATH}",
    f"https://evil.amazonaws.com{GOOD_PATH}",
    f"https://x.sns.us-east-1.amazonaws.com{GOOD_PATH}",
    "https://evil.com\\@sns.us-east-1.amazonaws.com/x.pem",
    f"https://evil.com\\@sns.us-east-1.amazonaws.com{GOOD_PATH}",
    f"https://evil.com@sns.us-east-1.amazonaws.com{GOOD_PATH}",
    f"https://sns.us-east-1.amazonaws.com@evil.com{GOOD_PATH}",
    f"https://sns.us-east-1.amazonaws.com:443{GOOD_PATH}",
    f"https://sns.us-east-1.amazonaws.com:8443{GOOD_PATH}",
    "https://sns.us-east-1.amazonaws.com/evil?x=.pem",
    f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}?x=1",
    f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}#x",
    f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}\n",
    f" https://sns.us-east-1.amazonaws.com{GOOD_PATH}",
    f"https://sns.us-west-2.amazonaws.com{GOOD_PATH}",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-xyz.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/a/../SimpleNotificationService-0a.pem",
    "https://sns.us-east-1.amazonaws.com//SimpleNotificationService-0a.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem/",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-０a.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a%2Epem",
    "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-0a.pem",
    "",
]


@pytest.mark.parametrize("url", BAD_CERT_URLS)
def test_bad_cert_urls_refused(
    url: str, identity: SigningIdentity, verifier: Verifier, fetch: CountingFetch
) -> None:
    with pytest.raises(ForbiddenMessageError):
        check_cert_url(url, TOPIC_ARN)
    with pytest.raises(ForbiddenMessageError):
        verifier.verify(parse_message(body(identity, cert_url=url)))
    assert fetch.urls == []


@pytest.mark.parametrize(
    ("url", "topic_arn"),
    [
        (f"https://sns.cn-north-1.amazonaws.com{GOOD_PATH}", CN_TOPIC),
        (f"https://sns.us-east-1.amazonaws.com.cn{GOOD_PATH}", TOPIC_ARN),
        # The region comes from the (unverified) TopicArn: it must look like a region too.
        (
            f"https://sns.s3-ap-southeast-2.amazonaws.com{GOOD_PATH}",
            "arn:aws:sns:s3-ap-southeast-2:123456789012:t",
        ),
        (f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}", "arn:aws:sns:us-east-1:1234:t"),
        (f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}", "arn:aws:s3:us-east-1:123456789012:t"),
        (
            f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}",
            "arn:aws-iso:sns:us-east-1:123456789012:t",
        ),
        (f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}", f"{TOPIC_ARN}\n"),
        (f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}", ""),
    ],
)
def test_cert_url_partition_and_topic_arn_must_agree(url: str, topic_arn: str) -> None:
    with pytest.raises(ForbiddenMessageError):
        check_cert_url(url, topic_arn)


# --- the certificate body -----------------------------------------------------------------


def store_serving(body_bytes: bytes, clock: Clock | None = None) -> CertificateStore:
    return CertificateStore(fetch=lambda url: body_bytes, now=clock or Clock())


def test_whitespace_around_the_pem_block_is_fine(identity: SigningIdentity) -> None:
    store_serving(b"\r\n  " + identity.pem + b"\n\n").public_key(CERT_URL)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda pem: b"junk\n" + pem,
        lambda pem: pem + b"junk\n",
        lambda pem: pem + pem,
        lambda pem: pem + b"\n" + pem,
        lambda pem: pem.replace(b"CERTIFICATE", b"X509 CRL"),
        lambda pem: pem.replace(b"\n", b"\n#", 1),
        lambda pem: b"\xef\xbb\xbf" + pem,
        lambda pem: b"",
        lambda pem: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        lambda pem: x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER),
    ],
    ids=[
        "junk-before",
        "junk-after",
        "two-blocks",
        "two-blocks-newline",
        "not-a-certificate",
        "comment-inside",
        "bom",
        "empty",
        "garbage-base64",
        "der",
    ],
)
def test_certificate_body_must_be_one_strict_pem_block(
    identity: SigningIdentity, wrap: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(ForbiddenMessageError):
        store_serving(wrap(identity.pem)).public_key(CERT_URL)


def test_certificate_must_be_issued_to_sns() -> None:
    other = identity_for("evil.example.com")
    with pytest.raises(ForbiddenMessageError, match="not issued to SNS"):
        store_serving(other.pem).public_key(CERT_URL)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("sns.amazonaws.com", CERT_URL),
        ("sns.us-east-1.amazonaws.com", CERT_URL),
        ("sns-cn-north-1.amazonaws.com.cn", f"https://sns.cn-north-1.amazonaws.com.cn{GOOD_PATH}"),
        ("sns.amazonaws.com.cn", f"https://sns.cn-north-1.amazonaws.com.cn{GOOD_PATH}"),
        ("sns-us-gov-west-1.amazonaws.com", f"https://sns.us-gov-west-1.amazonaws.com{GOOD_PATH}"),
    ],
)
def test_sns_certificate_names_accepted(name: str, url: str) -> None:
    store_serving(identity_for(name).pem).public_key(url)


def test_certificate_for_another_partition_refused() -> None:
    china = identity_for("sns.amazonaws.com.cn")
    with pytest.raises(ForbiddenMessageError, match="not issued to SNS"):
        store_serving(china.pem).public_key(CERT_URL)


def test_store_refuses_unchecked_urls(identity: SigningIdentity) -> None:
    fetch = CountingFetch(identity.pem)
    with pytest.raises(ForbiddenMessageError):
        CertificateStore(fetch=fetch).public_key("https://evil.com/x.pem")
    assert fetch.urls == []


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        (NOW - timedelta(days=30), NOW - timedelta(seconds=1)),
        (NOW + timedelta(seconds=1), NOW + timedelta(days=30)),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_certificate_outside_its_dates_refused(not_before: datetime, not_after: datetime) -> None:
    cert = make_identity(not_before=not_before, not_after=not_after)
    clock = Clock()
    store = CertificateStore(fetch=CountingFetch(cert.pem), now=clock)
    verifier = Verifier(store)
    msg = parse_message(body(cert))
    with pytest.raises(ForbiddenMessageError, match="validity"):
        verifier.verify(msg)


def test_certificate_without_rsa_key_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ForbiddenMessageError, match="RSA"):
        store_serving(pem).public_key(CERT_URL)


def test_certificate_that_cannot_be_fetched_is_503_and_not_cached(
    identity: SigningIdentity,
) -> None:
    calls: list[str] = []

    def failing(url: str) -> bytes:
        calls.append(url)
        raise OSError("connection refused")

    verifier = Verifier(CertificateStore(fetch=failing, now=Clock()))
    msg = parse_message(body(identity))
    for _ in range(2):
        with pytest.raises(CertificateUnavailableError) as caught:
            verifier.verify(msg)
        assert caught.value.status == 503
    assert calls == [CERT_URL, CERT_URL]


def test_refused_certificate_is_not_cached(identity: SigningIdentity) -> None:
    bodies = [b"junk", identity.pem]
    store = CertificateStore(fetch=lambda url: bodies.pop(0), now=Clock())
    with pytest.raises(ForbiddenMessageError):
        store.public_key(CERT_URL)
    store.public_key(CERT_URL)


# --- the cache ----------------------------------------------------------------------------


def test_one_download_per_url_under_concurrency(identity: SigningIdentity) -> None:
    fetch = CountingFetch(identity.pem, delay=0.05)
    verifier = Verifier(CertificateStore(fetch=fetch, now=Clock()))
    messages = [
        parse_message(body(identity, message=f"m{i}", version="1" if i % 2 else "2"))
        for i in range(8)
    ]
    start = threading.Barrier(len(messages))
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            verifier.verify(messages[index])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(messages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert fetch.urls == [CERT_URL]


def test_different_urls_download_in_parallel(identity: SigningIdentity) -> None:
    fetch = CountingFetch(identity.pem, delay=0.2)
    store = CertificateStore(fetch=fetch, now=Clock())
    urls = [CERT_URL.replace("0123", f"{i:04d}") for i in range(4)]
    threads = [threading.Thread(target=store.public_key, args=(url,)) for url in urls]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fetch.urls) == sorted(urls)
    assert time.monotonic() - started < 0.6


def test_entries_expire_after_the_ttl(identity: SigningIdentity) -> None:
    fetch = CountingFetch(identity.pem)
    clock = Clock()
    store = CertificateStore(fetch=fetch, now=clock, ttl=timedelta(hours=1))
    store.public_key(CERT_URL)
    clock.moment += timedelta(minutes=59)
    store.public_key(CERT_URL)
    assert len(fetch.urls) == 1
    clock.moment += timedelta(minutes=2)
    store.public_key(CERT_URL)
    assert len(fetch.urls) == 2


def test_entries_never_outlive_the_certificate() -> None:
    short = make_identity(not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(minutes=10))
    renewed = make_identity(not_before=NOW, not_after=NOW + timedelta(days=30), key_seed=1)
    bodies = [short.pem, renewed.pem]
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return bodies[len(fetched) - 1]

    clock = Clock()
    store = CertificateStore(fetch=fetch, now=clock)
    assert store.public_key(CERT_URL).public_numbers() == short.key.public_key().public_numbers()
    clock.moment += timedelta(minutes=11)
    assert store.public_key(CERT_URL).public_numbers() == renewed.key.public_key().public_numbers()
    assert len(fetched) == 2


def test_cache_is_bounded_and_least_recently_used_goes_first(identity: SigningIdentity) -> None:
    fetch = CountingFetch(identity.pem)
    store = CertificateStore(fetch=fetch, now=Clock(), max_entries=2)
    a, b, c = (CERT_URL.replace("0123", f"{i:04d}") for i in range(3))
    store.public_key(a)
    store.public_key(b)
    store.public_key(a)  # a is now the most recently used
    store.public_key(c)  # evicts b
    store.public_key(a)
    assert fetch.urls == [a, b, c]
    store.public_key(b)
    assert fetch.urls == [a, b, c, b]


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'"Notification"',
        b"null",
        b"{}",
        b'{"Type": "Notification"',
        b"\xff\xfe{}",
        '{"Type": "Notification", "Message": "caf\xe9"}'.encode("latin-1"),
        b'{"MessageId": "a", "TopicArn": "t", "Message": "m", "Timestamp": "t"}',
        b'{"Type": "Other", "MessageId": "a", "TopicArn": "t", "Message": "m", "Timestamp": "t"}',
        b'{"Type": "notification", "MessageId": "a", "TopicArn": "t", "Message": "m", '
        b'"Timestamp": "t"}',
        b'{"Type": "Notification", "TopicArn": "t", "Message": "m", "Timestamp": "t"}',
        b'{"Type": "Notification", "MessageId": 1, "TopicArn": "t", "Message": "m", '
        b'"Timestamp": "t"}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": null, '
        b'"Timestamp": "t"}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": {"a": 1}, '
        b'"Timestamp": "t"}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": "m", '
        b'"Timestamp": "t", "Subject": ["s"]}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": "m", '
        b'"Timestamp": "t", "SignatureVersion": 1}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": "m", '
        b'"Timestamp": NaN}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": "m", '
        b'"Timestamp": "t", "Message": "other"}',
        b'{"Type": "Notification", "MessageId": "a", "TopicArn": "t", "Message": "\\ud800", '
        b'"Timestamp": "t"}',
        b'{"Type": "SubscriptionConfirmation", "MessageId": "a", "TopicArn": "t", '
        b'"Message": "m", "Timestamp": "t", "SubscribeURL": "u"}',
        b'{"Type": "UnsubscribeConfirmation", "MessageId": "a", "TopicArn": "t", '
        b'"Message": "m", "Timestamp": "t", "Token": "k"}',
        b"[" * 100_000,
    ],
)
def test_malformed_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        parse_message(raw)
    assert caught.value.status == 400


def test_error_statuses() -> None:
    assert issubclass(MalformedMessageError, SnsError)
    assert (MalformedMessageError.status, ForbiddenMessageError.status) == (400, 403)
    assert CertificateUnavailableError.status == 503


def test_parse_keeps_raw_values(identity: SigningIdentity) -> None:
    fields = signed_message(identity, "SubscriptionConfirmation", subject="s")
    fields["UnsubscribeURL"] = "https://example.com/u"
    msg = parse_message(encode(fields))
    assert msg.type is MessageType.SUBSCRIPTION_CONFIRMATION
    assert (msg.message_id, msg.topic_arn, msg.message) == (
        fields["MessageId"],
        fields["TopicArn"],
        fields["Message"],
    )
    assert (msg.timestamp, msg.subject, msg.token) == (fields["Timestamp"], "s", fields["Token"])
    assert msg.subscribe_url == fields["SubscribeURL"]
    assert msg.signature == fields["Signature"]
    assert msg.signature_version == "1"
    assert msg.signing_cert_url == CERT_URL
    assert msg.unsubscribe_url == "https://example.com/u"


def test_message_attributes_object_is_tolerated(
    identity: SigningIdentity, verifier: Verifier
) -> None:
    fields: dict[str, object] = {**signed_message(identity, timestamp=sns_timestamp(NOW))}
    fields["MessageAttributes"] = {"k": {"Type": "String", "Value": "v"}}
    verifier.verify(parse_message(encode(fields)))


def test_canonical_strings() -> None:
    base = {"MessageId": "id", "TopicArn": "arn", "Message": "m\nx", "Timestamp": "ts"}
    notification = parse_message(json.dumps({"Type": "Notification", **base}).encode())
    assert canonical_string(notification) == (
        b"Message\nm\nx\nMessageId\nid\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"
    )
    with_subject = parse_message(
        json.dumps({"Type": "Notification", "Subject": "s\u00e9", **base}).encode()
    )
    assert canonical_string(with_subject) == (
        b"Message\nm\nx\nMessageId\nid\nSubject\ns\xc3\xa9\nTimestamp\nts\n"
        b"TopicArn\narn\nType\nNotification\n"
    )
    confirmation = parse_message(
        json.dumps(
            {
                "Type": "SubscriptionConfirmation",
                "SubscribeURL": "u",
                "Token": "k",
                "Subject": "s",
                **base,
            }
        ).encode()
    )
    assert canonical_string(confirmation) == (
        b"Message\nm\nx\nMessageId\nid\nSubscribeURL\nu\nTimestamp\nts\nToken\nk\n"
        b"TopicArn\narn\nType\nSubscriptionConfirmation\n"
    )


# --- S3 records ---------------------------------------------------------------------------


def notification(message: str) -> bytes:
    fields = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": sns_timestamp(NOW),
    }
    return encode(fields)


def test_shared_put_sample() -> None:
    msg = parse_message((SAMPLES / "s3-put-notification.json").read_bytes())
    assert s3_object_refs(msg) == [
        ObjectRef("glsource", "docproc-invoice.txt", "2fafdc4705f330664733b544dbcabc43")
    ]


def test_shared_test_event_sample() -> None:
    msg = parse_message((SAMPLES / "s3-test-event-notification.json").read_bytes())
    assert msg.type is MessageType.NOTIFICATION
    assert s3_object_refs(msg) == []


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("in%2Fa+b%2Bc.txt", "in/a b+c.txt"),
        ("in/a+b.txt", "in/a b.txt"),
        ("%C3%BCber%20100%25.txt", "über 100%.txt"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_keys_are_url_decoded_as_s3_encodes_them(encoded: str, key: str) -> None:
    msg = parse_message(notification(s3_event(("bkt", encoded, "abc"))))
    assert s3_object_refs(msg) == [ObjectRef("bkt", key, "abc")]


def test_every_created_record_counts_and_repeats_collapse() -> None:
    message = json.loads(
        s3_event(("b", "one.txt", "e1"), ("b", "two.txt", "e2"), ("b", "one.txt", "e1"))
    )
    message["Records"][1]["eventName"] = "ObjectCreated:CompleteMultipartUpload"
    removed = json.loads(s3_event(("b", "gone.txt", "e3"), event_name="ObjectRemoved:Delete"))
    message["Records"] += removed["Records"]
    msg = parse_message(notification(json.dumps(message)))
    assert s3_object_refs(msg) == [ObjectRef("b", "one.txt", "e1"), ObjectRef("b", "two.txt", "e2")]


def test_same_key_new_version_is_another_object() -> None:
    msg = parse_message(notification(s3_event(("b", "k", "e1"), ("b", "k", "e2"))))
    assert s3_object_refs(msg) == [ObjectRef("b", "k", "e1"), ObjectRef("b", "k", "e2")]


@pytest.mark.parametrize(
    "message",
    [
        "Hello world",
        "",
        "null",
        "[]",
        "{}",
        '{"Records": "x"}',
        '{"Records": {"a": 1}}',
        '{"Records": [1, "x", null, []]}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": 1}, '
        '"object": {"key": "k"}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ""}, '
        '"object": {"key": "k"}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": ""}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": "%FF"}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": "\\ud800"}}}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": "k", "eTag": 5}}}]}',
        '{"Records": [{"eventName": 7, "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}',
        '{"Records": [{"eventName": "s3:TestEvent"}]}',
        '{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"glsource"}',
        "[" * 100_000,
    ],
)
def test_odd_messages_name_no_object(message: str) -> None:
    assert s3_object_refs(parse_message(notification(message))) == []


def test_malformed_records_are_skipped_not_fatal() -> None:
    message = json.loads(s3_event(("b", "good.txt", "e")))
    message["Records"].insert(0, {"eventName": "ObjectCreated:Put", "s3": None})
    msg = parse_message(notification(json.dumps(message)))
    assert s3_object_refs(msg) == [ObjectRef("b", "good.txt", "e")]


def test_missing_or_quoted_etag() -> None:
    message = json.loads(s3_event(("b", "a.txt", '"quoted"'), ("b", "b.txt", "x")))
    del message["Records"][1]["s3"]["object"]["eTag"]
    refs = s3_object_refs(parse_message(notification(json.dumps(message))))
    assert refs == [ObjectRef("b", "a.txt", "quoted"), ObjectRef("b", "b.txt", None)]


def test_confirmations_name_no_object(identity: SigningIdentity) -> None:
    fields = signed_message(identity, "SubscriptionConfirmation", message=s3_event(("b", "k", "e")))
    assert s3_object_refs(parse_message(encode(fields))) == []


# --- SubscribeURL -------------------------------------------------------------------------

SUBSCRIBE = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC_ARN}&Token=2336412f37fb687f5d51e6e2425c464de12884a4bd5d7d8e"
)


def test_subscribe_url_from_sns_is_ok(identity: SigningIdentity) -> None:
    assert subscribe_host_ok(SUBSCRIBE, TOPIC_ARN)
    fields = signed_message(identity, "SubscriptionConfirmation")
    assert subscribe_host_ok(fields["SubscribeURL"], TOPIC_ARN)
    cn = "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=x"
    assert subscribe_host_ok(cn, CN_TOPIC)


@pytest.mark.parametrize(
    ("url", "topic_arn"),
    [
        (SUBSCRIBE.replace("https://", "http://"), TOPIC_ARN),
        (SUBSCRIBE.replace("us-east-1.amazonaws.com/", "us-east-1.amazonaws.com:443/"), TOPIC_ARN),
        (SUBSCRIBE.replace("https://", "https://user@"), TOPIC_ARN),
        (SUBSCRIBE.replace("https://", "https://evil.com\\@"), TOPIC_ARN),
        (SUBSCRIBE.replace("amazonaws.com/", "amazonaws.com@evil.com/"), TOPIC_ARN),
        (SUBSCRIBE.replace("amazonaws.com/", "amazonaws.com.evil.com/"), TOPIC_ARN),
        (SUBSCRIBE.replace("us-east-1", "us-west-2", 1), TOPIC_ARN),
        (SUBSCRIBE.replace("amazonaws.com/", "amazonaws.com.cn/"), TOPIC_ARN),
        (SUBSCRIBE + "#frag", TOPIC_ARN),
        (SUBSCRIBE + "\n", TOPIC_ARN),
        (SUBSCRIBE.replace("Token=", "Token= "), TOPIC_ARN),
        (SUBSCRIBE.replace("amazonaws.com/", "amazonaws.com"), TOPIC_ARN),
        (
            "https://sns.s3-ap-southeast-2.amazonaws.com/?Action=x",
            "arn:aws:sns:s3-ap-southeast-2:123456789012:t",
        ),
        ("http://169.254.169.254/latest/meta-data/", TOPIC_ARN),
        (SUBSCRIBE, "not an arn"),
    ],
)
def test_subscribe_url_elsewhere_is_not_ok(url: str, topic_arn: str) -> None:
    assert not subscribe_host_ok(url, topic_arn)


# --- the default download -----------------------------------------------------------------


class CertHandler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, payload = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def cert_server(monkeypatch: pytest.MonkeyPatch, identity: SigningIdentity) -> Iterator[str]:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    CertHandler.routes = {
        "/cert.pem": (200, {}, identity.pem),
        "/moved.pem": (302, {"Location": "/cert.pem"}, b""),
        "/big.pem": (200, {}, b"A" * (CERT_MAX_BYTES + 1)),
        "/gzip.pem": (200, {"Content-Encoding": "gzip"}, gzip.compress(identity.pem)),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CertHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_certificate_downloads(cert_server: str, identity: SigningIdentity) -> None:
    assert fetch_certificate(f"{cert_server}/cert.pem") == identity.pem


@pytest.mark.parametrize("path", ["/moved.pem", "/missing.pem", "/big.pem"])
def test_fetch_certificate_refuses_redirects_errors_and_size(cert_server: str, path: str) -> None:
    with pytest.raises(CertificateUnavailableError):
        fetch_certificate(f"{cert_server}{path}")


def test_fetch_certificate_does_not_inflate(cert_server: str) -> None:
    assert fetch_certificate(f"{cert_server}/gzip.pem").startswith(b"\x1f\x8b")


def test_unreachable_host_is_503(identity: SigningIdentity) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/cert.pem"
    store = CertificateStore(fetch=lambda url: fetch_certificate(closed), now=Clock())
    with pytest.raises(CertificateUnavailableError):
        store.public_key(CERT_URL)
