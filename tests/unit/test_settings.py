"""The settings' validators: each takes what it should from DOCPROC_* and refuses a malformed
value with one line (the CLI prints it as it is, no traceback: `cli.load_settings`)."""

from __future__ import annotations

import logging
import os

import pytest
from pydantic import ValidationError

from docproc import settings as settings_module
from docproc.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no DOCPROC_* of the shell, no `.env`."""
    for name in list(os.environ):
        if name.startswith("DOCPROC_"):
            monkeypatch.delenv(name)


def read(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(f"DOCPROC_{name.upper()}", value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """The one message a malformed variable is refused with, as the CLI prints it."""
    with pytest.raises(ValidationError) as caught:
        read(monkeypatch, **variables)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    message = str(errors[0]["msg"]).removeprefix("Value error, ")
    assert "\n" not in message
    return message


def test_the_defaults_are_the_named_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    s = read(monkeypatch)
    assert s.database_url.get_secret_value() == f"sqlite:///{settings_module.DEFAULT_SQLITE}"
    assert s.reject_prefix == settings_module.DEFAULT_REJECT_PREFIX == "rejected/"
    assert s.s3_max_attempts == settings_module.DEFAULT_S3_MAX_ATTEMPTS == 4
    assert s.s3_concurrency == settings_module.DEFAULT_S3_CONCURRENCY == 32
    assert s.sns_max_age_seconds == settings_module.DEFAULT_SNS_MAX_AGE_SECONDS == 3900
    assert s.max_document_bytes == settings_module.DEFAULT_MAX_DOCUMENT_BYTES
    assert (s.batch_size, s.db_writers, s.duplicate_policy) == (None, 4, "hold")
    assert (s.sns_verify, s.topic_arns) == (True, frozenset())


# --- DOCPROC_DATABASE_URL ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///.docproc/docproc.db",
        "sqlite://",
        "mysql+pymysql://docproc:pw@db:3306/docproc",
        "mariadb+pymysql://docproc:pw@db/docproc?ssl_disabled=true",
    ],
)
def test_a_database_url_docproc_can_use_is_kept_as_given(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    assert read(monkeypatch, database_url=url).database_url.get_secret_value() == url


@pytest.mark.parametrize("backend", ["mysql", "mariadb"])
def test_a_url_without_a_driver_gets_pymysql_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="docproc.settings"):
        s = read(monkeypatch, database_url=f"{backend}://docproc:s3cret@db:3306/docproc")
    assert s.database_url.get_secret_value() == (
        f"{backend}+pymysql://docproc:s3cret@db:3306/docproc"  # the password kept
    )
    assert f"names no driver: using PyMySQL ({backend}+pymysql://)" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "db.example.com:3306",
            "DOCPROC_DATABASE_URL is not a SQLAlchemy URL "
            "(expected e.g. mysql+pymysql://user:pw@host:3306/db)",
        ),
        (
            "postgresql://docproc:s3cret@db/docproc",
            "DOCPROC_DATABASE_URL must name MySQL/MariaDB or SQLite",
        ),
        (
            "mysql+mysqldb://docproc:s3cret@db/docproc",
            "DOCPROC_DATABASE_URL names the driver 'mysqldb', which docproc does not ship: "
            "use mysql+pymysql://user:pw@host:3306/db",
        ),
        (
            "mariadb+mysqlconnector://docproc:s3cret@db/docproc",
            "DOCPROC_DATABASE_URL names the driver 'mysqlconnector', which docproc does not "
            "ship: use mariadb+pymysql://user:pw@host:3306/db",
        ),
    ],
)
def test_a_database_url_docproc_cannot_use_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    assert refusal(monkeypatch, database_url=url) == message


def test_a_refused_database_url_never_shows_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCPROC_DATABASE_URL", "postgresql://docproc:s3cret@db/docproc")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "s3cret" not in str(caught.value)


# --- the numbers and the policy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("max_document_bytes", ["1", "10485760"]),
        ("s3_max_attempts", ["1", "10"]),
        ("batch_size", ["1", "1000"]),
        ("s3_concurrency", ["1", "256"]),
        ("db_writers", ["1", "64"]),
        ("sns_max_age_seconds", ["1", "86400"]),
        ("duplicate_policy", ["hold", "replace"]),
    ],
)
def test_values_within_bounds_are_taken(
    monkeypatch: pytest.MonkeyPatch, name: str, accepted: list[str]
) -> None:
    for value in accepted:
        assert str(getattr(read(monkeypatch, **{name: value}), name)) == value


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_document_bytes", "0", "Input should be greater than 0"),
        ("s3_max_attempts", "0", "Input should be greater than or equal to 1"),
        ("batch_size", "0", "Input should be greater than or equal to 1"),
        ("batch_size", "1001", "Input should be less than or equal to 1000"),
        ("s3_concurrency", "0", "Input should be greater than or equal to 1"),
        ("s3_concurrency", "257", "Input should be less than or equal to 256"),
        ("db_writers", "0", "Input should be greater than or equal to 1"),
        ("sns_max_age_seconds", "-5", "Input should be greater than 0"),
        (
            "s3_concurrency",
            "lots",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("duplicate_policy", "keep", "Input should be 'hold' or 'replace'"),
        ("sns_verify", "maybe", "Input should be a valid boolean, unable to interpret input"),
    ],
)
def test_values_out_of_bounds_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    assert refusal(monkeypatch, **{name: value}) == message


# --- SNS --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "verify"), [("false", False), ("0", False), ("true", True)])
def test_sns_verification_reads_booleans(
    monkeypatch: pytest.MonkeyPatch, value: str, verify: bool
) -> None:
    assert read(monkeypatch, sns_verify=value).sns_verify is verify


def test_accepted_topics_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    a = "arn:aws:sns:eu-west-1:123456789012:a"
    b = "arn:aws:sns:eu-west-1:123456789012:b"
    s = read(monkeypatch, sns_topic_arns=f" {a} ,, {b},")
    assert s.topic_arns == frozenset({a, b})
