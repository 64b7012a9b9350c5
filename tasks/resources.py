"""Clients shared by the tasks of one process, built on first use from the settings."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from docproc import schema, storage
from docproc.loader import make_engine
from docproc.settings import Settings, get_settings

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


@lru_cache
def s3() -> S3Client:
    """S3 from the `AwsCredentials` block named in the settings, else boto3's own chain."""
    config = settings()
    if config.aws_credentials_block:
        from prefect_aws import AwsCredentials

        creds = AwsCredentials.load(config.aws_credentials_block)
        return storage.s3_client(
            creds.get_boto3_session(),
            endpoint_url=creds.aws_client_parameters.endpoint_url,
            max_attempts=config.s3_max_attempts,
        )
    return storage.s3_client(max_attempts=config.s3_max_attempts)


def reset() -> None:
    """Forget settings and clients, so that changed variables take effect (tests, demo)."""
    get_settings.cache_clear()
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    s3.cache_clear()
