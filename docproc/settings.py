"""All of docproc's configuration, read from `DOCPROC_*` variables or `.env`, in one place."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from docproc.models import DEFAULT_MAX_DOCUMENT_BYTES, OfficialRules

DEFAULT_SQLITE = Path(".docproc") / "docproc.db"
DEFAULT_REJECT_PREFIX = "rejected/"
# boto3 attempts per request ("standard" retry mode), for S3 and every other AWS client.
DEFAULT_S3_MAX_ATTEMPTS = 4
# S3 requests in flight at once: a batch's fetches or puts, and the client's pool for them.
DEFAULT_S3_CONCURRENCY = 32
# The oldest SNS `Timestamp` accepted: SNS retries a delivery for up to an hour (SPEC 6).
DEFAULT_SNS_MAX_AGE_SECONDS = 3900
# The SNS topic `provision` creates for the source bucket's events (and `deprovision` removes).
DEFAULT_TOPIC_NAME = "docproc-source-events"
MYSQL_DRIVER = "pymysql"

log = logging.getLogger("docproc.settings")


class Settings(BaseSettings):
    """SPEC section 8; AWS endpoint, region and credentials stay boto3's own variables."""

    # No input in errors: a refused DOCPROC_DATABASE_URL would print its password in a
    # traceback (a served run's log, `serve`'s terminal).
    model_config = SettingsConfigDict(
        env_prefix="DOCPROC_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: SecretStr = Field(
        default=SecretStr(f"sqlite:///{DEFAULT_SQLITE}"),
        description="SQLAlchemy URL; the embedded SQLite file is for the demo only.",
    )
    source_bucket: str = "docproc-source"
    target_bucket: str = "docproc-target"
    export_prefix: str = ""
    reject_prefix: str = DEFAULT_REJECT_PREFIX
    max_document_bytes: int = Field(default=DEFAULT_MAX_DOCUMENT_BYTES, gt=0)
    aws_credentials_block: str | None = None
    # boto3 retries throttling, 5xx and dropped connections itself ("standard" mode);
    # what survives these attempts is retried by the Prefect task with backoff.
    s3_max_attempts: int = Field(default=DEFAULT_S3_MAX_ATTEMPTS, ge=1)
    # Backfill: documents per batch (one set of task runs; unset: sized to the prefix,
    # docproc.batching), S3 requests in flight, and the size of the Prefect global
    # concurrency limit on database writers.
    batch_size: int | None = Field(default=None, ge=1, le=1000)
    s3_concurrency: int = Field(default=DEFAULT_S3_CONCURRENCY, ge=1, le=256)
    db_writers: int = Field(default=4, ge=1)
    # SPEC section 10: a second document with other values under a loaded number is
    # held as a conflict, or replaces the invoice.
    duplicate_policy: Literal["hold", "replace"] = "hold"
    sns_verify: bool = True
    sns_topic_arns: str = ""
    sns_max_age_seconds: int = Field(default=DEFAULT_SNS_MAX_AGE_SECONDS, gt=0)
    # SPEC 2.6: plain PDFs. The user's invoice2data templates (a folder or
    # s3://bucket/prefix), added to the shipped ones; OCR of scans; the languages
    # Tesseract reads; the limit on one PDF's text extraction or OCR (SPEC 2.5).
    templates: str | None = None
    ocr: Literal["off", "tesseract"] = "off"
    ocr_languages: str = Field(default="eng+deu+fra", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    extract_timeout_seconds: float = Field(default=30, gt=0)
    # SPEC 3.1: the official EN 16931 / Factur-X rules as a second judge of e-invoices.
    official_rules: OfficialRules = OfficialRules.REPORT
    # SPEC 12: a review left unanswered this long ends Cancelled, the document as it was.
    review_timeout_hours: float = Field(default=168, gt=0)

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError(
                "DOCPROC_DATABASE_URL is not a SQLAlchemy URL "
                "(expected e.g. mysql+pymysql://user:pw@host:3306/db)"
            ) from None
        backend = url.get_backend_name()
        if backend not in {"mysql", "mariadb", "sqlite"}:
            raise ValueError("DOCPROC_DATABASE_URL must name MySQL/MariaDB or SQLite")
        if backend == "sqlite":
            return value
        # `mysql://`, as most MySQL guides print it, means MySQLdb to SQLAlchemy, which
        # docproc does not ship: PyMySQL is the driver it has.
        driver = url.get_driver_name()
        if "+" not in url.drivername:
            url = url.set(drivername=f"{backend}+{MYSQL_DRIVER}")
            log.warning(
                "DOCPROC_DATABASE_URL names no driver: using PyMySQL (%s+%s://)",
                backend,
                MYSQL_DRIVER,
            )
            return SecretStr(url.render_as_string(hide_password=False))
        if driver != MYSQL_DRIVER:
            raise ValueError(
                f"DOCPROC_DATABASE_URL names the driver {driver!r}, which docproc does not "
                f"ship: use {backend}+{MYSQL_DRIVER}://user:pw@host:3306/db"
            )
        return value

    @field_validator("ocr", mode="before")
    @classmethod
    def _ocr_off(cls, value: object) -> object:
        """`DOCPROC_OCR=` (empty) or `none` is off, as an unset variable is."""
        if isinstance(value, str) and value.strip().lower() in {"", "none", "false", "0"}:
            return "off"
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def topic_arns(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.sns_topic_arns.split(",") if a.strip())


@lru_cache
def get_settings() -> Settings:
    """Built on first use, never at import: `--help` and unit tests need no environment."""
    return Settings()
