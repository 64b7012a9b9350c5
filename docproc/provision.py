"""The trigger chain as code: buckets, topic, topic policy, bucket notification, subscription.

`plan` only reads and says what is missing; `apply` makes exactly those changes, so a dry
run shows the real plan and a second run has nothing to do. Only docproc's own parts are
touched: other notification entries and policy statements are kept as they are.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from docproc import aws, storage
from docproc.aws import TopicArn, error_code
from docproc.errors import DocprocError
from docproc.settings import DEFAULT_S3_MAX_ATTEMPTS, DEFAULT_TOPIC_NAME

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        NotificationConfigurationTypeDef,
        PublicAccessBlockConfigurationTypeDef,
    )
else:
    S3Client = Any

NOTIFICATION_ID = "docproc-object-created"
POLICY_SID = "docproc-source-bucket-publish"
OBJECT_CREATED = "s3:ObjectCreated:*"
# SNS's default for HTTP/S endpoints is three retries 20 s apart, after which it discards
# the message: a Prefect API busy or down for a minute would lose uploads (`reconcile`
# finds them, but by hand). This one retries for about 48 minutes (AWS's limit is an hour
# in all): twice a second apart, 13 times backing off to a minute, then 45 times a minute
# apart. The webhook answers 503 whenever it could not hand an object over.
DELIVERY_POLICY: dict[str, Any] = {
    "healthyRetryPolicy": {
        "minDelayTarget": 1,
        "maxDelayTarget": 60,
        "numRetries": 60,
        "numNoDelayRetries": 0,
        "numMinDelayRetries": 2,
        "numMaxDelayRetries": 45,
        "backoffFunction": "exponential",
    }
}

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Standard topics only: S3 cannot notify a FIFO topic, so a `.fifo` name is refused too.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ALL_BLOCKED: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


class ProvisionError(DocprocError):
    """AWS (or the emulator) refused or failed a read or a change; the message says which."""


@dataclass(frozen=True)
class Clients:
    """One session's clients, so that every call goes to the same account, region and endpoint."""

    s3: S3Client
    sns: Any
    sts: Any
    region: str
    partition: str


def make_clients(
    session: boto3.session.Session | None = None,
    *,
    client_params: Mapping[str, Any] | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS,
) -> Clients:
    """Clients for the session's region; ValueError without one rather than a guessed region.

    `client_params` are a credentials block's (see `docproc.aws.client`).
    """
    session = session or boto3.session.Session()
    region = session.region_name
    if not region:
        raise ValueError("no AWS region: set AWS_REGION (or the region of the credentials block)")
    where: dict[str, Any] = {
        "client_params": client_params,
        "endpoint_url": endpoint_url,
        "max_attempts": max_attempts,
    }
    return Clients(
        s3=storage.s3_client(session, **where),
        sns=aws.client("sns", session, **where),
        sts=aws.client("sts", session, **where),
        region=region,
        partition=session.get_partition_for_region(region),
    )


@dataclass(frozen=True)
class Step:
    """One change, described before it is made, so that a dry run can show it."""

    description: str
    action: Callable[[Clients], object] = field(repr=False, compare=False)


@dataclass
class _Topic:
    """The topic's ARN is only known once the topic exists, or when STS names the account."""

    name: str
    arn: str | None
    exists: bool

    @property
    def label(self) -> str:
        return self.arn or f"topic {self.name}"

    def require_arn(self) -> str:
        if self.arn is None:
            raise ProvisionError(f"topic {self.name} was not created")
        return self.arn


@contextmanager
def explain(what: str) -> Iterator[None]:
    """One line naming the failed step, instead of a botocore traceback."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProvisionError(
            f"could not {what}: {error.get('Code', '?')}: {error.get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise ProvisionError(f"could not {what}: {exc}") from exc


def check_bucket_name(name: str) -> None:
    """S3's naming rules for general purpose buckets, so that a typo fails before any change."""
    problem = None
    if not _BUCKET_NAME.fullmatch(name):
        problem = (
            "3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
        )
    elif ".." in name:
        problem = "no two adjacent dots"
    elif name.startswith(_BUCKET_PREFIXES) or name.endswith(_BUCKET_SUFFIXES):
        problem = "none of S3's reserved prefixes and suffixes"
    else:
        try:
            ipaddress.IPv4Address(name)
            problem = "not an IP address"
        except ValueError:
            pass
    if problem:
        raise ValueError(f"invalid bucket name {name!r}: must be {problem}")


def display_url(url: str) -> str:
    """The URL as printed: SNS takes basic-auth credentials in it, a terminal must not show them."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def webhook_protocol(url: str) -> str:
    """The SNS protocol for the URL: `http` or `https`; ValueError for anything SNS would refuse."""
    shown = display_url(url)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook URL must start with http:// or https://: {shown!r}")
    if any(c.isspace() for c in url):
        raise ValueError(f"webhook URL must not contain spaces: {shown!r}")
    parts = urlsplit(url)
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"webhook URL has an invalid port: {shown!r}") from None
    if not host:
        raise ValueError(f"webhook URL has no host: {shown!r}")
    return parts.scheme


def _normalise(value: Any) -> Any:
    """IAM reads a one-element list and its element alike; compare policies the same way."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        return items[0] if len(items) == 1 else items
    return value


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _publish_statement(topic_arn: str, bucket_arn: str, account: str | None) -> dict[str, Any]:
    condition: dict[str, Any] = {"ArnLike": {"aws:SourceArn": bucket_arn}}
    if account:
        # A bucket name can be deleted and taken by another account; the account pins it.
        condition["StringEquals"] = {"aws:SourceAccount": account}
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": condition,
    }


def _with_statement(policy_json: str, statement: dict[str, Any]) -> dict[str, Any]:
    """The policy with docproc's statement added or replaced; other statements stay."""
    policy: dict[str, Any] = json.loads(policy_json) if policy_json else {"Version": "2012-10-17"}
    others = [s for s in statements(policy) if s.get("Sid") != POLICY_SID]
    return {**policy, "Statement": [*others, statement]}


def _our_notification(topic_arn: str) -> dict[str, Any]:
    return {"Id": NOTIFICATION_ID, "TopicArn": topic_arn, "Events": [OBJECT_CREATED]}


def _delivers_object_created(entry: Mapping[str, Any], topic_arn: str) -> bool:
    """An entry made by hand under another Id also counts: S3 refuses a second overlapping one."""
    return (
        entry.get("TopicArn") == topic_arn
        and OBJECT_CREATED in entry.get("Events", [])
        and not entry.get("Filter")
    )


def _account(clients: Clients) -> str | None:
    """None where STS is not offered (some emulators): the policy then goes without the pin."""
    try:
        account: str = clients.sts.get_caller_identity()["Account"]
    except ClientError:
        return None
    return account


def bucket_exists(clients: Clients, bucket: str) -> bool:
    try:
        clients.s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if aws.is_missing(exc):
            return False
        if error_code(exc) in {"403", "AccessDenied", "Forbidden"}:
            raise ProvisionError(
                f"bucket {bucket} exists but is not yours to use (another account's, "
                "or this identity lacks s3:ListBucket)"
            ) from None
        raise
    return True


def _bucket_steps(clients: Clients, bucket: str) -> tuple[list[Step], bool]:
    """Steps for one bucket, and whether it exists already."""
    with explain(f"check bucket {bucket}"):
        exists = bucket_exists(clients, bucket)
        blocked = False
        if exists:
            try:
                got = clients.s3.get_public_access_block(Bucket=bucket)
                blocked = all(got["PublicAccessBlockConfiguration"].get(k) for k in _ALL_BLOCKED)
            except ClientError as exc:
                if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                    raise
    steps = []
    if not exists:
        where = "" if clients.region == "us-east-1" else f" in {clients.region}"
        steps.append(Step(f"create bucket {bucket}{where}", lambda c: _create_bucket(c, bucket)))
    if not blocked:
        steps.append(
            Step(
                f"block public access on bucket {bucket}",
                lambda c: c.s3.put_public_access_block(
                    Bucket=bucket,
                    PublicAccessBlockConfiguration=_ALL_BLOCKED,
                ),
            )
        )
    return steps, exists


def _create_bucket(clients: Clients, bucket: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if clients.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    try:
        clients.s3.create_bucket(**kwargs)
    except ClientError as exc:
        # Created since the plan was read, by this account: the goal is met.
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            raise


def _check_bucket_region(clients: Clients, bucket: str) -> None:
    """S3 notifies only a topic in its own region; say so before anything is changed."""
    with explain(f"read the region of bucket {bucket}"):
        constraint = clients.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
    if region != clients.region:
        raise ProvisionError(
            f"bucket {bucket} is in {region}, not {clients.region}: S3 can only notify a "
            f"topic in the bucket's region (set AWS_REGION={region})"
        )


def find_topic(clients: Clients, name: str, account: str | None) -> _Topic:
    with explain(f"list the SNS topics to find {name}"):
        for page in clients.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                arn: str = topic["TopicArn"]
                if TopicArn.parse(arn).name == name:
                    return _Topic(name, arn, exists=True)
    predicted = str(TopicArn(clients.partition, clients.region, account, name)) if account else None
    return _Topic(name, predicted, exists=False)


def _create_topic(clients: Clients, topic: _Topic) -> None:
    topic.arn = clients.sns.create_topic(Name=topic.name)["TopicArn"]


def _set_policy(clients: Clients, topic: _Topic, bucket_arn: str, account: str | None) -> None:
    """Read again at apply time, so that a statement added since the plan is not lost."""
    arn = topic.require_arn()
    current = clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy", "")
    policy = _with_statement(current, _publish_statement(arn, bucket_arn, account))
    clients.sns.set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )


def _set_notification(clients: Clients, bucket: str, topic: _Topic) -> None:
    """Read again at apply time, so that an entry added since the plan is not lost."""
    current = clients.s3.get_bucket_notification_configuration(Bucket=bucket)
    # Written back whole, keys docproc does not know included.
    config: dict[str, Any] = {k: v for k, v in current.items() if k != "ResponseMetadata"}
    others = [e for e in config.get("TopicConfigurations", []) if e.get("Id") != NOTIFICATION_ID]
    config["TopicConfigurations"] = [*others, _our_notification(topic.require_arn())]
    clients.s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=cast("NotificationConfigurationTypeDef", config)
    )


def _policy_steps(clients: Clients, topic: _Topic, bucket: str, account: str | None) -> list[Step]:
    """Compared as JSON, statement by statement: SNS may store the text differently."""
    bucket_arn = f"arn:{clients.partition}:s3:::{bucket}"
    if topic.exists:
        arn = topic.require_arn()
        with explain(f"read the policy of {arn}"):
            policy = clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy")
        wanted = _normalise(_publish_statement(arn, bucket_arn, account))
        if any(_normalise(s) == wanted for s in statements(json.loads(policy or "{}"))):
            return []
    return [
        Step(
            f"set topic policy on {topic.label}: bucket {bucket} may publish",
            lambda c: _set_policy(c, topic, bucket_arn, account),
        )
    ]


def _notification_steps(
    clients: Clients, bucket: str, bucket_exists: bool, topic: _Topic
) -> list[Step]:
    if bucket_exists and topic.exists:
        with explain(f"read the notification configuration of bucket {bucket}"):
            config = clients.s3.get_bucket_notification_configuration(Bucket=bucket)
        entries = config.get("TopicConfigurations", [])
        if any(_delivers_object_created(e, topic.require_arn()) for e in entries):
            return []
    return [
        Step(
            f"notify {topic.label} of {OBJECT_CREATED} in bucket {bucket}",
            lambda c: _set_notification(c, bucket, topic),
        )
    ]


def _subscription_steps(
    clients: Clients, topic: _Topic, webhook_url: str, protocol: str
) -> list[Step]:
    shown = display_url(webhook_url)
    subscribe = Step(
        f"subscribe {shown} to {topic.label}",
        lambda c: c.sns.subscribe(
            TopicArn=topic.require_arn(),
            Protocol=protocol,
            Endpoint=webhook_url,
            # The default envelope carries the signature; a raw message cannot be verified.
            Attributes={
                "RawMessageDelivery": "false",
                "DeliveryPolicy": json.dumps(DELIVERY_POLICY),
            },
            ReturnSubscriptionArn=True,
        ),
    )
    if not topic.exists:
        return [subscribe]
    arn = topic.require_arn()
    steps = []
    with explain(f"list the subscriptions of {arn}"):
        pages = clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        found = [
            str(sub["SubscriptionArn"])
            for page in pages
            for sub in page.get("Subscriptions", [])
            if sub.get("Endpoint") == webhook_url and sub.get("Protocol") == protocol
        ]
        if not found:
            return [subscribe]
        # A pending subscription has no ARN to read until the webhook confirms it.
        for sub_arn in (a for a in found if a.startswith("arn:")):
            attributes = clients.sns.get_subscription_attributes(SubscriptionArn=sub_arn)
            current = attributes["Attributes"]
            if current.get("RawMessageDelivery", "false").lower() == "true":
                steps.append(
                    Step(
                        f"turn off raw message delivery for {shown} on {arn}",
                        _set_attribute(sub_arn, "RawMessageDelivery", "false"),
                    )
                )
            # A policy of the user's own is kept: only SNS's default is replaced.
            if not current.get("DeliveryPolicy"):
                steps.append(
                    Step(
                        f"retry deliveries to {shown} on {arn} for about 48 minutes",
                        _set_attribute(sub_arn, "DeliveryPolicy", json.dumps(DELIVERY_POLICY)),
                    )
                )
    return steps


def _set_attribute(subscription_arn: str, name: str, value: str) -> Callable[[Clients], object]:
    return lambda c: c.sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn, AttributeName=name, AttributeValue=value
    )


def plan(
    clients: Clients,
    *,
    source_bucket: str,
    target_bucket: str,
    webhook_url: str,
    topic_name: str = DEFAULT_TOPIC_NAME,
) -> list[Step]:
    """The changes that would make the trigger chain complete; reads only, changes nothing.

    ValueError for bad input before any request; ProvisionError when AWS refuses a read
    or the existing state cannot work (a source bucket in another region, another
    account's bucket).
    """
    check_bucket_name(source_bucket)
    check_bucket_name(target_bucket)
    if source_bucket == target_bucket:
        raise ValueError(
            f"source and target bucket are both {source_bucket}: every export would "
            "trigger another run"
        )
    if not _TOPIC_NAME.fullmatch(topic_name):
        raise ValueError(
            f"invalid topic name {topic_name!r}: 1-256 of A-Z a-z 0-9 _ - (no FIFO topics)"
        )
    protocol = webhook_protocol(webhook_url)

    with explain("ask STS for the account"):
        account = _account(clients)
    steps, source_exists = _bucket_steps(clients, source_bucket)
    if source_exists:
        _check_bucket_region(clients, source_bucket)
    steps += _bucket_steps(clients, target_bucket)[0]

    topic = find_topic(clients, topic_name, account)
    if not topic.exists:
        steps.append(Step(f"create topic {topic_name}", lambda c: _create_topic(c, topic)))

    steps += _policy_steps(clients, topic, source_bucket, account)
    # Subscribed first, the webhook already gets the s3:TestEvent that saving the
    # notification publishes: a live sign that the chain works.
    steps += _subscription_steps(clients, topic, webhook_url, protocol)
    return steps + _notification_steps(clients, source_bucket, source_exists, topic)


def apply(clients: Clients, steps: list[Step]) -> None:
    """Make the planned changes in order; the first failure stops, naming its step."""
    for step in steps:
        with explain(step.description):
            step.action(clients)
