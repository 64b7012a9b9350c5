"""The one way docproc builds AWS clients (S3, SNS, STS) and reads what AWS refused.

Plain Python: credentials and client parameters come in. The Prefect layer resolves a
prefect-aws `AwsCredentials` block into a boto3 session (credentials, region, profile,
assumed role) and `aws_client_parameters.get_params_override()` (endpoint, TLS
verification, API version, botocore config); with neither, boto3's own chain and
`AWS_ENDPOINT_URL` apply. Moto and AWS then differ only in settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
from botocore.config import Config
from botocore.exceptions import ClientError

from docproc.settings import DEFAULT_S3_MAX_ATTEMPTS

# What S3 answers for a bucket or key that is not there: GET and list name it, while a HEAD
# (no body to name it in) only has its status.
MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})

# botocore reads and parses a service model (about 0.1 s for S3) once per loader, and each
# session has its own: one loader for all makes every further client cheap, and a served
# run forked from a warm process (deployments/forkserver.py) inherits it parsed.
_LOADER = botocore.loaders.create_loader()


@dataclass(frozen=True)
class TopicArn:
    """An SNS topic's ARN, `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, read in one place.

    `parse` checks the shape only; what a delivery's ARN must also be to be trusted
    (a known partition, a region's form) is `docproc.sns`'s rule.
    """

    partition: str
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> TopicArn:
        """ValueError unless `arn` has the shape of a topic ARN with every part set."""
        parts = arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not all(parts):
            raise ValueError(f"not an SNS topic ARN: {arn!r}")
        return cls(partition=parts[1], region=parts[3], account=parts[4], name=parts[5])

    def __str__(self) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account}:{self.name}"


def error_code(exc: ClientError) -> str:
    """AWS's error code (`NoSuchKey`, `404`, `AccessDenied`, ...), or "" when it sent none."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    return error_code(exc) in MISSING


def client(
    service: str,
    session: boto3.session.Session | None = None,
    *,
    client_params: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS,
    max_pool_connections: int = 10,
    connect_timeout: float = 5,
    read_timeout: float = 30,
) -> Any:
    """A client with docproc's retry, pool and timeout settings.

    `client_params` are a credentials block's client parameters: its botocore config is
    merged over ours (what the block sets wins), the rest passed to boto3 as they are.
    `endpoint_url` and `region_name`, when given, win over both (a test's emulator, a
    topic's own region).
    """
    params = dict(client_params or {})
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    if isinstance(block_config := params.pop("config", None), Config):
        config = config.merge(block_config)
    if endpoint_url is not None:
        params["endpoint_url"] = endpoint_url
    if region_name is not None:
        params["region_name"] = region_name
    session = session or boto3.session.Session()
    session._session.register_component("data_loader", _LOADER)
    return session.client(service, config=config, **params)
