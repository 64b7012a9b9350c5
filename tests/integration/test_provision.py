"""`provision` against the moto server over HTTP: what it creates, what it leaves alone, and
that the chain it builds really delivers an S3 upload to the webhook."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.exceptions import ClientError

from docproc import provision
from docproc.provision import Clients

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import TopicConfigurationTypeDef

WEBHOOK = "https://hooks.example.com/sns"


@dataclass
class Names:
    source: str
    target: str
    topic: str

    def plan(self, clients: Clients, webhook_url: str = WEBHOOK) -> list[provision.Step]:
        return provision.plan(
            clients,
            source_bucket=self.source,
            target_bucket=self.target,
            webhook_url=webhook_url,
            topic_name=self.topic,
        )

    def provision(self, clients: Clients, webhook_url: str = WEBHOOK) -> None:
        provision.apply(clients, self.plan(clients, webhook_url))


@pytest.fixture
def clients(moto_endpoint: str) -> Clients:
    return provision.make_clients()


@pytest.fixture
def names() -> Names:
    suffix = uuid.uuid4().hex[:8]
    return Names(f"src-{suffix}", f"dst-{suffix}", f"events-{suffix}")


@dataclass
class Webhook:
    url: str
    bodies: list[dict[str, Any]]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in list(self.bodies):
                if predicate(body):
                    return body
            time.sleep(0.05)
        raise AssertionError(f"no matching POST within {timeout} s; got {self.bodies}")


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A stand-in subscriber on a free loopback port that keeps what SNS POSTs."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/sns", bodies)
    server.shutdown()
    server.server_close()


def topic_arn(clients: Clients, name: str) -> str | None:
    for page in clients.sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].endswith(f":{name}"):
                return str(topic["TopicArn"])
    return None


def bucket_exists(clients: Clients, bucket: str) -> bool:
    try:
        clients.s3.head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def subscriptions(clients: Clients, arn: str) -> list[dict[str, Any]]:
    subs: list[dict[str, Any]] = clients.sns.list_subscriptions_by_topic(TopicArn=arn)[
        "Subscriptions"
    ]
    return subs


def test_first_run_creates_the_whole_chain(clients: Clients, names: Names) -> None:
    steps = names.plan(clients)
    provision.apply(clients, steps)

    account = clients.sts.get_caller_identity()["Account"]
    arn = topic_arn(clients, names.topic)
    assert arn == f"arn:aws:sns:us-east-1:{account}:{names.topic}"
    assert [s.description for s in steps] == [
        f"create bucket {names.source}",
        f"block public access on bucket {names.source}",
        f"create bucket {names.target}",
        f"block public access on bucket {names.target}",
        f"create topic {names.topic}",
        f"set topic policy on {arn}: bucket {names.source} may publish",
        f"subscribe {WEBHOOK} to {arn}",
        f"notify {arn} of s3:ObjectCreated:* in bucket {names.source}",
    ]
    for bucket in (names.source, names.target):
        assert bucket_exists(clients, bucket)
        block = clients.s3.get_public_access_block(Bucket=bucket)
        assert all(block["PublicAccessBlockConfiguration"].values())

    policy = json.loads(clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    ours = [s for s in policy["Statement"] if s.get("Sid") == provision.POLICY_SID]
    assert ours == [
        {
            "Sid": provision.POLICY_SID,
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "SNS:Publish",
            "Resource": arn,
            "Condition": {
                "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{names.source}"},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }
    ]
    # The topic's default statement (the owner's own rights) is not docproc's to remove.
    assert len(policy["Statement"]) == 2

    config = clients.s3.get_bucket_notification_configuration(Bucket=names.source)
    assert config["TopicConfigurations"] == [
        {"Id": provision.NOTIFICATION_ID, "TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}
    ]

    [sub] = subscriptions(clients, arn)
    assert (sub["Protocol"], sub["Endpoint"]) == ("https", WEBHOOK)
    attributes = clients.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert attributes["Attributes"]["RawMessageDelivery"] == "false"
    assert json.loads(attributes["Attributes"]["DeliveryPolicy"]) == provision.DELIVERY_POLICY


def test_the_delivery_policy_retries_within_aws_limit_of_an_hour() -> None:
    """AWS refuses a policy whose retries could take longer than 3,600 s in all; each
    retry waits at most maxDelayTarget, the minimum-delay ones minDelayTarget."""
    policy = provision.DELIVERY_POLICY["healthyRetryPolicy"]
    at_min = policy["numMinDelayRetries"] * policy["minDelayTarget"]  # no-delay ones: 0 s
    rest = policy["numRetries"] - policy["numNoDelayRetries"] - policy["numMinDelayRetries"]
    longest = at_min + rest * policy["maxDelayTarget"]
    assert 2_400 <= longest <= 3_600  # long enough to outlast a restart, within the limit


def test_an_existing_subscription_gets_the_policy_unless_it_has_its_own(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    arn = topic_arn(clients, names.topic)
    assert arn is not None
    [sub] = subscriptions(clients, arn)
    sub_arn = sub["SubscriptionArn"]
    clients.sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="DeliveryPolicy", AttributeValue=""
    )
    [step] = names.plan(clients)
    assert step.description == f"retry deliveries to {WEBHOOK} on {arn} for about 48 minutes"
    provision.apply(clients, [step])
    current = clients.sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert json.loads(current["DeliveryPolicy"]) == provision.DELIVERY_POLICY

    own = {"healthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 2, "maxDelayTarget": 2}}
    clients.sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(own)
    )
    assert names.plan(clients) == []  # the user's own policy stays


def test_a_second_run_plans_nothing(clients: Clients, names: Names) -> None:
    names.provision(clients)
    assert names.plan(clients) == []


def test_a_dry_run_creates_nothing(clients: Clients, names: Names) -> None:
    steps = names.plan(clients)
    assert len(steps) == 8
    assert not bucket_exists(clients, names.source)
    assert not bucket_exists(clients, names.target)
    assert topic_arn(clients, names.topic) is None


def test_a_new_webhook_url_plans_only_its_subscription(clients: Clients, names: Names) -> None:
    names.provision(clients)
    arn = topic_arn(clients, names.topic)
    new_url = "https://other.example.com:8443/sns?x=1"

    steps = names.plan(clients, new_url)
    assert [s.description for s in steps] == [f"subscribe {new_url} to {arn}"]

    provision.apply(clients, steps)
    assert arn is not None
    endpoints = {(s["Protocol"], s["Endpoint"]) for s in subscriptions(clients, arn)}
    assert endpoints == {("https", WEBHOOK), ("https", new_url)}
    assert names.plan(clients, new_url) == []


def test_raw_message_delivery_is_turned_back_off(clients: Clients, names: Names) -> None:
    names.provision(clients)
    arn = topic_arn(clients, names.topic)
    assert arn is not None
    [sub] = subscriptions(clients, arn)
    clients.sns.set_subscription_attributes(
        SubscriptionArn=sub["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )

    steps = names.plan(clients)
    assert [s.description for s in steps] == [
        f"turn off raw message delivery for {WEBHOOK} on {arn}"
    ]
    provision.apply(clients, steps)
    attributes = clients.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert attributes["Attributes"]["RawMessageDelivery"] == "false"


def test_other_notification_entries_survive(clients: Clients, names: Names) -> None:
    clients.s3.create_bucket(Bucket=names.source)
    audit = clients.sns.create_topic(Name=f"audit-{names.topic}")["TopicArn"]
    foreign: TopicConfigurationTypeDef = {
        "Id": "audit-deletes",
        "TopicArn": audit,
        "Events": ["s3:ObjectRemoved:*"],
    }
    clients.s3.put_bucket_notification_configuration(
        Bucket=names.source, NotificationConfiguration={"TopicConfigurations": [foreign]}
    )

    names.provision(clients)

    arn = topic_arn(clients, names.topic)
    config = clients.s3.get_bucket_notification_configuration(Bucket=names.source)
    ours = {"Id": provision.NOTIFICATION_ID, "TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}
    assert config["TopicConfigurations"] == [foreign, ours]
    assert names.plan(clients) == []


def test_a_stale_docproc_entry_is_replaced_not_duplicated(clients: Clients, names: Names) -> None:
    names.provision(clients)
    old = clients.sns.create_topic(Name=f"old-{names.topic}")["TopicArn"]
    stale: TopicConfigurationTypeDef = {
        "Id": provision.NOTIFICATION_ID,
        "TopicArn": old,
        "Events": ["s3:ObjectCreated:*"],
    }
    clients.s3.put_bucket_notification_configuration(
        Bucket=names.source, NotificationConfiguration={"TopicConfigurations": [stale]}
    )

    names.provision(clients)

    config = clients.s3.get_bucket_notification_configuration(Bucket=names.source)
    [entry] = config["TopicConfigurations"]
    assert entry["TopicArn"] == topic_arn(clients, names.topic)


def test_a_bucket_outside_us_east_1_gets_its_location(moto_endpoint: str, names: Names) -> None:
    clients = provision.make_clients(boto3.session.Session(region_name="eu-west-1"))
    steps = names.plan(clients)
    assert steps[0].description == f"create bucket {names.source} in eu-west-1"
    provision.apply(clients, steps)

    location = clients.s3.get_bucket_location(Bucket=names.source)["LocationConstraint"]
    assert location == "eu-west-1"
    assert str(topic_arn(clients, names.topic)).startswith("arn:aws:sns:eu-west-1:")
    assert names.plan(clients) == []


def test_a_source_bucket_in_another_region_is_refused(clients: Clients, names: Names) -> None:
    eu = provision.make_clients(boto3.session.Session(region_name="eu-west-1"))
    eu.s3.create_bucket(
        Bucket=names.source, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(provision.ProvisionError, match="is in eu-west-1, not us-east-1"):
        names.plan(clients)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/sns",
        "example.com/sns",
        "HTTP//example.com/sns",
        "https:///sns",
        "http://",
        "http://example.com:99999/sns",
        "http://exa mple.com/sns",
        "",
    ],
)
def test_an_invalid_webhook_url_is_refused_before_any_change(
    clients: Clients, names: Names, url: str
) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        names.plan(clients, url)
    assert not bucket_exists(clients, names.source)


def test_credentials_in_the_webhook_url_are_not_shown(clients: Clients, names: Names) -> None:
    steps = names.plan(clients, "https://user:s3cret@hooks.example.com/sns")
    assert any(
        s.description.startswith("subscribe https://user:***@hooks.example.com/sns to ")
        for s in steps
    )
    assert not any("s3cret" in s.description for s in steps)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("Upper-Case", "dst-ok", "invalid bucket name"),
        ("ab", "dst-ok", "invalid bucket name"),
        ("src..x", "dst-ok", "adjacent dots"),
        ("192.168.1.1", "dst-ok", "IP address"),
        ("xn--src", "dst-ok", "reserved"),
        ("same-bucket", "same-bucket", "both same-bucket"),
    ],
)
def test_invalid_buckets_are_refused(
    clients: Clients, source: str, target: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        provision.plan(clients, source_bucket=source, target_bucket=target, webhook_url=WEBHOOK)


def test_an_upload_reaches_the_webhook(clients: Clients, names: Names, webhook: Webhook) -> None:
    names.provision(clients, webhook.url)
    key = "in/inv 1+2.txt"
    clients.s3.put_object(Bucket=names.source, Key=key, Body=b"Inv-ID: inv-00001\n")

    def object_created(body: dict[str, Any]) -> bool:
        if body.get("Type") != "Notification":
            return False
        # Saving the notification configuration publishes an s3:TestEvent, without Records.
        message = json.loads(body["Message"])
        return any(
            r["eventName"].startswith("ObjectCreated:")
            and r["s3"]["bucket"]["name"] == names.source
            and unquote_plus(r["s3"]["object"]["key"]) == key
            for r in message.get("Records", [])
        )

    body = webhook.wait_for(object_created)
    assert body["TopicArn"] == topic_arn(clients, names.topic)
