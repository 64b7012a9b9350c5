"""The one client factory honours a credentials block whole; one reading of error codes
and of topic ARNs."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from prefect_aws import AwsClientParameters, AwsCredentials

from docproc import aws, provision, storage
from docproc.webhook import sns_clients


def session(region: str = "eu-west-1") -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="block-key",
        aws_secret_access_key="block-secret",
        region_name=region,
    )


def client_error(code: str | None) -> ClientError:
    error = {} if code is None else {"Code": code, "Message": "m"}
    return ClientError({"Error": error}, "HeadObject")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket", "404", "NotFound"])
def test_missing_codes(code: str) -> None:
    assert aws.error_code(client_error(code)) == code
    assert aws.is_missing(client_error(code))


@pytest.mark.parametrize("code", ["AccessDenied", "403", "PreconditionFailed", None])
def test_other_codes_are_not_missing(code: str | None) -> None:
    assert aws.error_code(client_error(code)) == (code or "")
    assert not aws.is_missing(client_error(code))


def test_a_topic_arn_is_read_into_its_parts_and_back() -> None:
    text = "arn:aws-cn:sns:cn-north-1:123456789012:docproc-source.fifo"
    arn = aws.TopicArn.parse(text)
    assert arn == aws.TopicArn("aws-cn", "cn-north-1", "123456789012", "docproc-source.fifo")
    assert str(arn) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "docproc-source",
        "arn:aws:sqs:eu-west-1:123456789012:q",  # another service
        "arn:aws:sns::123456789012:t",  # no region
        "arn:aws:sns:eu-west-1:123456789012:",  # no name
        "arn:aws:sns:eu-west-1:123456789012:t:sub-id",  # a subscription's ARN
        "urn:aws:sns:eu-west-1:123456789012:t",
    ],
)
def test_what_is_not_a_topic_arn_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an SNS topic ARN"):
        aws.TopicArn.parse(text)


def test_block_parameters_are_honoured_whole() -> None:
    """Endpoint, TLS verification and the block's botocore config, not the endpoint alone."""
    creds = AwsCredentials(
        aws_access_key_id="block-key",
        aws_secret_access_key="block-secret",
        region_name="eu-west-1",
        aws_client_parameters=AwsClientParameters(
            endpoint_url="http://127.0.0.1:9",
            verify=False,
            config={"read_timeout": 7, "user_agent_extra": "docproc-test"},
        ),
    )
    params = creds.aws_client_parameters.get_params_override()
    for service in ("s3", "sns", "sts"):
        client = aws.client(service, creds.get_boto3_session(), client_params=params)
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.config.read_timeout == 7  # the block's config wins ...
        assert "docproc-test" in client.meta.config.user_agent_extra
        assert client.meta.config.retries["mode"] == "standard"  # ... over ours, merged
        assert client.meta.config.connect_timeout == 5
        assert client._endpoint.http_session._verify is False
        assert client._request_signer._credentials.access_key == "block-key"


def test_explicit_endpoint_and_region_win_over_the_block() -> None:
    params = {"endpoint_url": "http://block.invalid"}
    client = aws.client(
        "sns",
        session(),
        client_params=params,
        endpoint_url="http://127.0.0.1:9",
        region_name="ap-south-1",
    )
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "ap-south-1"


def test_one_config_for_s3_sns_and_sts() -> None:
    clients = provision.make_clients(
        session(), client_params={"endpoint_url": "http://127.0.0.1:9"}, max_attempts=3
    )
    for client in (clients.s3, clients.sns, clients.sts):
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert client.meta.config.read_timeout == 30
    assert clients.s3.meta.config.max_pool_connections == 32
    s3 = storage.s3_client(session(), client_params={"endpoint_url": "http://127.0.0.1:9"})
    assert s3.meta.endpoint_url == "http://127.0.0.1:9"


def test_webhook_confirms_with_the_block_in_the_topic_region() -> None:
    """The SNS client of ConfirmSubscription used to ignore the block entirely."""
    make = sns_clients(session(), {"endpoint_url": "http://127.0.0.1:9"})
    client = make("us-west-2")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "us-west-2"
    assert client._request_signer._credentials.access_key == "block-key"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
