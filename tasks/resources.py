"""Clients shared by the tasks of one process, built on first use from the settings."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import boto3
from sqlalchemy import Engine

from docproc import schema, storage
from docproc.loader import make_engine
from docproc.settings import Settings, get_settings
from tasks import writer_slot

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from docproc.formats.plainpdf import PdfOptions


def settings() -> Settings:
    return get_settings()


_engine_lock = threading.Lock()


def engine() -> Engine:
    """The database, with its tables: a first run needs no separate `init-db`. One per
    process, whichever thread asks first; the others wait for it."""
    with _engine_lock:
        return _engine()


@lru_cache
def _engine() -> Engine:
    eng = make_engine(settings().database_url.get_secret_value())
    schema.create_all(eng)
    return eng


def prepare_engine() -> None:
    """Connect and check the schema in a thread, while the caller waits on something else
    (a backfill on its listing; 0.2 s of a command's start). A failure is left to the
    first real use, in a task with its retries."""

    def connect() -> None:
        with contextlib.suppress(Exception):
            engine()

    threading.Thread(target=connect, name="docproc-engine", daemon=True).start()


def aws_session() -> tuple[boto3.session.Session | None, dict[str, Any]]:
    """The `AwsCredentials` block named in the settings, whole: a session (credentials,
    region, profile, assumed role) and its client parameters (endpoint, TLS verification,
    botocore config), for `docproc.aws.client`.

    None and no parameters leave everything to boto3's own chain and `AWS_ENDPOINT_URL`.
    """
    name = settings().aws_credentials_block
    if not name:
        return None, {}
    from prefect_aws import AwsCredentials

    creds: Any = AwsCredentials.load(name)
    return creds.get_boto3_session(), creds.aws_client_parameters.get_params_override()


@lru_cache
def s3() -> S3Client:
    session, client_params = aws_session()
    config = settings()
    # Room for every request of the batches a backfill keeps in flight at once.
    return storage.s3_client(
        session,
        client_params=client_params,
        max_attempts=config.s3_max_attempts,
        max_pool_connections=config.s3_concurrency * 4,
    )


def reset() -> None:
    """Forget settings, clients and S3 templates, so that changed variables take effect
    (tests, demo)."""
    global _templates
    get_settings.cache_clear()
    with _engine_lock:  # after an engine `prepare_engine` is still building
        if _engine.cache_info().currsize:
            _engine().dispose()
        _engine.cache_clear()
    s3.cache_clear()
    writer_slot.forget()
    _templates = None


# Templates kept on S3 (`DOCPROC_TEMPLATES=s3://bucket/prefix`) are listed again at most
# this often: a changed or new template is used within a minute, without a listing per PDF.
TEMPLATES_TTL_SECONDS = 60.0
_templates_lock = threading.Lock()
_templates: tuple[float, tuple[tuple[str, str], ...]] | None = None


def pdf_options() -> PdfOptions:
    """How this process reads plain PDFs (SPEC 2.6): OCR, limits and the user's templates,
    from a folder or from S3."""
    from docproc.pdfoptions import pdf_options as options

    config = settings()
    if config.templates and config.templates.startswith("s3://"):
        return options(config, user=_s3_templates(config.templates))
    return options(config)


def pdf_options_for(bodies: Iterable[bytes | None]) -> PdfOptions:
    """`pdf_options()` when one of these documents is a PDF, else the defaults: the
    templates (and an S3 listing) are loaded on a first PDF only."""
    from docproc import formats

    if any(body is not None and body.startswith(formats.PDF_MAGIC) for body in bodies):
        return pdf_options()
    return formats.DEFAULT_PDF


def _s3_templates(uri: str) -> tuple[tuple[str, str], ...]:
    """The templates under an S3 prefix as (file name, text), read again when stale; the
    same files and bounds as a folder's (`docproc.formats.templates`)."""
    from docproc.formats import templates

    global _templates
    with _templates_lock:
        if _templates is not None and time.monotonic() - _templates[0] < TEMPLATES_TTL_SECONDS:
            return _templates[1]
        bucket, prefix = storage.parse_s3_uri(uri)
        client = s3()
        found: list[tuple[str, str]] = []
        for page in storage.iter_pages(client, bucket, prefix):
            for listed in page:
                name = PurePosixPath(listed.ref.key).name
                if len(found) >= templates.MAX_TEMPLATES or not templates.is_template_file(name):
                    continue
                fetched = storage.fetch(client, listed.ref, templates.MAX_TEMPLATE_BYTES)
                if fetched.body is not None:  # None: too large to be a template
                    found.append((name, fetched.body.decode("utf-8", errors="replace")))
        _templates = (time.monotonic(), tuple(sorted(found)))
        return _templates[1]
