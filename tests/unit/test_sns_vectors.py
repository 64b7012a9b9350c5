"""The verifier against messages AWS really signed (samples/sns/aws-signed)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from docproc.sns import (
    CertificateStore,
    ForbiddenMessageError,
    MalformedMessageError,
    MessageType,
    SnsMessage,
    Verifier,
    check_cert_url,
    parse_message,
)

VECTORS = Path(__file__).resolve().parents[1] / "data" / "sns" / "aws-signed"
NOTIFICATIONS: list[dict[str, str]] = json.loads((VECTORS / "notifications.json").read_text())
CERT_PEM = (VECTORS / "signing-cert.pem").read_bytes()
IDS = [
    f"v{n['SignatureVersion']}-{'subject' if 'Subject' in n else 'nosubject'}"
    for n in NOTIFICATIONS
]

each_vector = pytest.mark.parametrize("vector", NOTIFICATIONS, ids=IDS)
# (field, index of the character changed); Timestamp changes stay inside the replay window.
CHANGES = [
    ("Message", 0),
    ("Message", -1),
    ("MessageId", 0),
    ("MessageId", -1),
    ("Subject", 0),
    ("Subject", -1),
    ("Timestamp", -2),
    ("Timestamp", 18),
    ("TopicArn", -1),
]


def sent_at(vector: dict[str, str]) -> datetime:
    return datetime.fromisoformat(vector["Timestamp"].replace("Z", "+00:00"))


def verifier_at(moment: datetime) -> Verifier:
    def fetch(url: str) -> bytes:
        assert url == NOTIFICATIONS[0]["SigningCertURL"]
        return CERT_PEM

    return Verifier(CertificateStore(fetch=fetch, now=lambda: moment))


def verify(vector: dict[str, Any], moment: datetime | None = None) -> None:
    moment = moment or sent_at(vector) + timedelta(seconds=30)
    verifier_at(moment).verify(parse_message(json.dumps(vector).encode()))


def one_char_changed(value: str, index: int) -> str:
    position = index % len(value)
    old = value[position]
    new = str((int(old) + 1) % 10) if old.isdigit() else ("b" if old != "b" else "c")
    return value[:position] + new + value[position + 1 :]


@each_vector
def test_accepted_with_their_certificate_and_time(vector: dict[str, str]) -> None:
    verify(vector)


@pytest.mark.parametrize(
    ("vector", "field", "index"),
    [
        pytest.param(v, field, index, id=f"{vid}-{field}[{index}]")
        for v, vid in zip(NOTIFICATIONS, IDS, strict=True)
        for field, index in CHANGES
        if field in v
    ],
)
def test_refused_when_a_signed_field_changes_by_one_character(
    vector: dict[str, str], field: str, index: int
) -> None:
    changed = {**vector, field: one_char_changed(vector[field], index)}
    assert changed[field] != vector[field]
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verify(changed, sent_at(vector) + timedelta(seconds=30))


@each_vector
def test_refused_when_type_changes(vector: dict[str, str]) -> None:
    with pytest.raises(MalformedMessageError):
        verify({**vector, "Type": "Notificatiom"})
    msg = parse_message(json.dumps(vector).encode())
    as_confirmation = dataclasses.replace(
        msg, type=MessageType.SUBSCRIPTION_CONFIRMATION, subscribe_url="", token=""
    )
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verifier_at(sent_at(vector)).verify(as_confirmation)


@each_vector
def test_refused_when_subject_added_or_removed(vector: dict[str, str]) -> None:
    if "Subject" in vector:
        changed = {k: v for k, v in vector.items() if k != "Subject"}
    else:
        changed = {**vector, "Subject": vector["Message"]}
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verify(changed)


@each_vector
def test_refused_when_signature_version_switched(vector: dict[str, str]) -> None:
    other = "2" if vector["SignatureVersion"] == "1" else "1"
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verify({**vector, "SignatureVersion": other})


@each_vector
def test_refused_when_signature_changes(vector: dict[str, str]) -> None:
    signature = vector["Signature"]
    flipped = ("A" if signature[5] != "A" else "B").join([signature[:5], signature[6:]])
    with pytest.raises(ForbiddenMessageError, match="signature does not match"):
        verify({**vector, "Signature": flipped})


@each_vector
def test_unsigned_fields_do_not_matter(vector: dict[str, str]) -> None:
    verify({**vector, "UnsubscribeURL": "https://example.com/", "Extra": "x"})


@each_vector
def test_refused_with_the_real_clock(vector: dict[str, str]) -> None:
    store = CertificateStore(fetch=lambda url: CERT_PEM)
    with pytest.raises(ForbiddenMessageError, match="older"):
        Verifier(store).verify(parse_message(json.dumps(vector).encode()))
    # Even a fresh message signed with that certificate would be refused: it has expired.
    url = check_cert_url(vector["SigningCertURL"], vector["TopicArn"])
    with pytest.raises(ForbiddenMessageError, match="validity"):
        store.public_key(url)


@each_vector
def test_refused_just_outside_the_replay_window(vector: dict[str, str]) -> None:
    msg: SnsMessage = parse_message(json.dumps(vector).encode())
    verifier_at(sent_at(vector) + timedelta(seconds=3900)).verify(msg)
    with pytest.raises(ForbiddenMessageError):
        verifier_at(sent_at(vector) + timedelta(seconds=3901)).verify(msg)
