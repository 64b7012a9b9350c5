"""Sign SNS messages the way SNS does, with a key and certificate made on the spot.

Deliberately independent of `docproc.sns` (its own string to sign), so that a
test signing with these helpers checks the verifier rather than mirrors it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGION = "us-east-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:docproc-source"
CERT_ID = "0123456789abcdef0123456789abcdef"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{CERT_ID}.pem"

_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_CONFIRMATION = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


@dataclass(frozen=True)
class SigningIdentity:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@cache
def _private_key(seed: int) -> rsa.RSAPrivateKey:
    """Key generation is slow; `seed` only tells cached keys apart."""
    del seed
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_identity(
    common_name: str = "sns.amazonaws.com",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_seed: int = 0,
) -> SigningIdentity:
    """A self-signed certificate named like SNS's (SAN and CN), valid around now by default."""
    now = datetime.now(UTC)
    key = _private_key(key_seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key, cert)


def sns_timestamp(moment: datetime | None = None) -> str:
    """SNS's own format: milliseconds and a Z."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def string_to_sign(fields: Mapping[str, str]) -> bytes:
    names = _SIGNED_NOTIFICATION if fields["Type"] == "Notification" else _SIGNED_CONFIRMATION
    return "".join(f"{n}\n{fields[n]}\n" for n in names if n in fields).encode("utf-8")


def sign(fields: Mapping[str, str], identity: SigningIdentity, version: str = "1") -> str:
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = identity.key.sign(string_to_sign(fields), padding.PKCS1v15(), algorithm)
    return base64.b64encode(signature).decode("ascii")


def signed_message(
    identity: SigningIdentity,
    message_type: str = "Notification",
    message: str = "Hello world",
    *,
    version: str = "1",
    subject: str | None = None,
    topic_arn: str = TOPIC_ARN,
    timestamp: str | None = None,
    cert_url: str = CERT_URL,
    message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
) -> dict[str, str]:
    """A complete SNS envelope of `message_type`, signed with `identity`."""
    fields = {
        "Type": message_type,
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": timestamp or sns_timestamp(),
    }
    if subject is not None:
        fields["Subject"] = subject
    if message_type != "Notification":
        region = topic_arn.split(":")[3]
        token = "2336412f37fb687f5d51e6e2425c464de12884a4bd5d7d8e"
        fields["Token"] = token
        fields["SubscribeURL"] = (
            f"https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={topic_arn}&Token={token}"
        )
    fields["SignatureVersion"] = version
    fields["Signature"] = sign(fields, identity, version)
    fields["SigningCertURL"] = cert_url
    return fields


def s3_event(*records: tuple[str, str, str], event_name: str = "ObjectCreated:Put") -> str:
    """The Message S3 publishes for (bucket, URL-encoded key, etag) records."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventName": event_name,
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": key, "size": 572, "eTag": etag},
                    },
                }
                for bucket, key, etag in records
            ]
        }
    )


def encode(fields: Mapping[str, object]) -> bytes:
    """The HTTP body SNS would POST."""
    return json.dumps(fields, indent=2).encode("utf-8")
