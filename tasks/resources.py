"""Clients shared by the tasks of one process, built on first use from the settings."""

from __future__ import annotations

import contextlib
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from sqlalchemy import Engine

from docproc import schema, storage
from docproc.loader import make_engine
from docproc.settings import Settings, get_settings
from tasks import writer_slot

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
    """Forget settings and clients, so that changed variables take effect (tests, demo)."""
    get_settings.cache_clear()
    with _engine_lock:  # after an engine `prepare_engine` is still building
        if _engine.cache_info().currsize:
            _engine().dispose()
        _engine.cache_clear()
    s3.cache_clear()
    writer_slot.forget()
