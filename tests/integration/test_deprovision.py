"""`deprovision` against the moto server over HTTP: after `provision`, moto's own listings show
nothing docproc made; twice in a row is harmless; a bucket that holds objects is never deleted."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from docproc import deprovision, provision
from docproc.errors import DocprocError
from docproc.provision import Clients

WEBHOOK = "https://hooks.example.com/sns"


@dataclass
class Names:
    source: str
    target: str
    topic: str

    def provision(self, clients: Clients, webhook_url: str = WEBHOOK) -> None:
        steps = provision.plan(
            clients,
            source_bucket=self.source,
            target_bucket=self.target,
            webhook_url=webhook_url,
            topic_name=self.topic,
        )
        provision.apply(clients, steps)

    def plan(
        self, clients: Clients, webhook_url: str = WEBHOOK, delete_buckets: bool = False
    ) -> list[provision.Step]:
        return deprovision.plan_teardown(
            clients,
            source_bucket=self.source,
            target_bucket=self.target,
            webhook_url=webhook_url,
            topic_name=self.topic,
            delete_buckets=delete_buckets,
        )

    def teardown(self, clients: Clients, delete_buckets: bool = False) -> list[str]:
        steps = self.plan(clients, delete_buckets=delete_buckets)
        deprovision.apply(clients, steps)
        return [s.description for s in steps]


@pytest.fixture
def clients(moto_endpoint: str) -> Clients:
    return provision.make_clients()


@pytest.fixture
def names() -> Names:
    suffix = uuid.uuid4().hex[:8]
    return Names(f"src-{suffix}", f"dst-{suffix}", f"events-{suffix}")


def topic_arns(clients: Clients, name: str) -> list[str]:
    pages = clients.sns.get_paginator("list_topics").paginate()
    return [
        str(t["TopicArn"]) for p in pages for t in p["Topics"] if t["TopicArn"].endswith(f":{name}")
    ]


def subscriptions_to(clients: Clients, endpoint: str, topic: str) -> list[dict[str, Any]]:
    """Every subscription of the endpoint to a topic of that name, whatever the topic's state."""
    pages = clients.sns.get_paginator("list_subscriptions").paginate()
    return [
        s
        for p in pages
        for s in p["Subscriptions"]
        if s["Endpoint"] == endpoint and s["TopicArn"].endswith(f":{topic}")
    ]


def buckets(clients: Clients) -> set[str]:
    return {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}


def notification_entries(clients: Clients, bucket: str) -> list[dict[str, Any]]:
    config = clients.s3.get_bucket_notification_configuration(Bucket=bucket)
    return [dict(e) for e in config.get("TopicConfigurations", [])]


def policy_sids(clients: Clients, arn: str) -> list[str | None]:
    attributes = clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return [s.get("Sid") for s in json.loads(attributes["Policy"])["Statement"]]


def test_deprovision_after_provision_leaves_nothing_docproc_made(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    [arn] = topic_arns(clients, names.topic)

    done = names.teardown(clients, delete_buckets=True)

    assert done == [
        f"unsubscribe {WEBHOOK} from {arn}",
        f"stop notifying {arn} from bucket {names.source}",
        f"delete topic {arn}",
        f"delete bucket {names.source} (empty)",
        f"delete bucket {names.target} (empty)",
    ]
    assert topic_arns(clients, names.topic) == []
    assert subscriptions_to(clients, WEBHOOK, names.topic) == []
    assert not {names.source, names.target} & buckets(clients)


def test_buckets_are_kept_unless_asked_and_lose_only_docprocs_entry(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    [arn] = topic_arns(clients, names.topic)
    # Someone else's entry on the source bucket, for another topic.
    other_arn = clients.sns.create_topic(Name=f"{names.topic}-audit")["TopicArn"]
    entries = notification_entries(clients, names.source)
    audit = {"Id": "audit", "TopicArn": other_arn, "Events": ["s3:ObjectRemoved:*"]}
    config: Any = {"TopicConfigurations": [*entries, audit]}
    clients.s3.put_bucket_notification_configuration(
        Bucket=names.source, NotificationConfiguration=config
    )

    done = names.teardown(clients)

    assert f"delete topic {arn}" in done
    assert not any(d.startswith("delete bucket") for d in done)
    assert {names.source, names.target} <= buckets(clients)
    assert notification_entries(clients, names.source) == [audit]
    assert topic_arns(clients, names.topic) == []
    assert topic_arns(clients, f"{names.topic}-audit") == [other_arn]


def test_twice_in_a_row_the_second_run_has_nothing_to_do(clients: Clients, names: Names) -> None:
    names.provision(clients)
    names.teardown(clients, delete_buckets=True)
    assert names.plan(clients, delete_buckets=True) == []
    assert names.teardown(clients, delete_buckets=True) == []
    # And on an account where provision never ran.
    fresh = Names(f"never-{uuid.uuid4().hex[:8]}", f"none-{uuid.uuid4().hex[:8]}", "nothing")
    assert fresh.teardown(clients, delete_buckets=True) == []


def test_a_dry_run_changes_nothing(clients: Clients, names: Names) -> None:
    names.provision(clients)
    [arn] = topic_arns(clients, names.topic)
    before = (
        subscriptions_to(clients, WEBHOOK, names.topic),
        notification_entries(clients, names.source),
        policy_sids(clients, arn),
    )

    steps = names.plan(clients, delete_buckets=True)

    assert len(steps) == 5
    after = (
        subscriptions_to(clients, WEBHOOK, names.topic),
        notification_entries(clients, names.source),
        policy_sids(clients, arn),
    )
    assert after == before
    assert {names.source, names.target} <= buckets(clients)


def test_delete_buckets_refuses_a_bucket_that_holds_objects(clients: Clients, names: Names) -> None:
    names.provision(clients)
    [arn] = topic_arns(clients, names.topic)
    clients.s3.put_object(Bucket=names.target, Key="c1/i1.csv", Body=b"a,b\n")

    with pytest.raises(DocprocError, match=f"bucket {names.target} holds objects") as raised:
        names.plan(clients, delete_buckets=True)
    assert isinstance(raised.value, deprovision.BucketNotEmpty)

    # Refused before any change: the chain is whole, both buckets are there.
    assert topic_arns(clients, names.topic) == [arn]
    assert len(subscriptions_to(clients, WEBHOOK, names.topic)) == 1
    assert [e["Id"] for e in notification_entries(clients, names.source)] == [
        provision.NOTIFICATION_ID
    ]
    assert {names.source, names.target} <= buckets(clients)
    assert clients.s3.get_object(Bucket=names.target, Key="c1/i1.csv")["Body"].read() == b"a,b\n"


def test_a_topic_still_used_by_another_subscriber_keeps_it_without_docprocs_statement(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    other_url = "https://other.example.com/sns"
    names.provision(clients, other_url)
    [arn] = topic_arns(clients, names.topic)
    assert provision.POLICY_SID in policy_sids(clients, arn)

    done = names.teardown(clients)

    assert done == [
        f"unsubscribe {WEBHOOK} from {arn}",
        f"stop notifying {arn} from bucket {names.source}",
        f"remove docproc's statement from the policy of {arn} "
        "(topic kept: 1 other subscription(s))",
    ]
    assert topic_arns(clients, names.topic) == [arn]
    assert [s["Endpoint"] for s in subscriptions_to(clients, other_url, names.topic)] == [other_url]
    assert subscriptions_to(clients, WEBHOOK, names.topic) == []
    assert provision.POLICY_SID not in policy_sids(clients, arn)
    assert policy_sids(clients, arn)  # the topic's default statement stays
    assert names.plan(clients) == []


def test_invalid_input_is_refused_before_any_request(clients: Clients, names: Names) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        names.plan(clients, webhook_url="ftp://example.com/sns")
    bad = Names("Not_A_Bucket", names.target, names.topic)
    with pytest.raises(ValueError, match="invalid bucket name"):
        bad.plan(clients)


def test_a_bucket_deleted_between_plan_and_apply_is_no_error(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    steps = names.plan(clients, delete_buckets=True)
    clients.s3.delete_bucket(Bucket=names.target)
    deprovision.apply(clients, steps)
    assert not {names.source, names.target} & buckets(clients)
    with pytest.raises(ClientError):
        clients.s3.head_bucket(Bucket=names.source)


def test_a_topic_fed_by_an_entry_docproc_did_not_make_keeps_topic_and_statement(
    clients: Clients, names: Names
) -> None:
    names.provision(clients)
    [arn] = topic_arns(clients, names.topic)
    # Made by hand under another Id: removals of objects, to the same topic.
    config: Any = {
        "TopicConfigurations": [
            *notification_entries(clients, names.source),
            {"Id": "by-hand", "TopicArn": arn, "Events": ["s3:ObjectRemoved:*"]},
        ]
    }
    clients.s3.put_bucket_notification_configuration(
        Bucket=names.source, NotificationConfiguration=config
    )

    done = names.teardown(clients)

    assert done == [
        f"unsubscribe {WEBHOOK} from {arn}",
        f"stop notifying {arn} from bucket {names.source}",
    ]
    assert topic_arns(clients, names.topic) == [arn]
    assert provision.POLICY_SID in policy_sids(clients, arn)
    assert [e["Id"] for e in notification_entries(clients, names.source)] == ["by-hand"]
    assert names.plan(clients) == []
