"""Clients shared by the tasks of one process, built on first use from the settings."""

from __future__ import annotations

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


@lru_cache
def engine() -> Engine:
    """The database, with its tables: a first run needs no separate `init-db`."""
    eng = make_engine(settings().database_url.get_secret_value())
    schema.create_all(eng)
    return eng


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
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    s3.cache_clear()
    writer_slot.forget()
