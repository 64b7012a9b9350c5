"""`provision` undone, in reverse order: subscription, bucket notification, topic policy, topic.

As in `provision`, `plan_teardown` only reads and `apply` makes exactly the planned
changes, so a dry run shows the real plan and a second run has nothing to do. Only
docproc's own parts go: other subscriptions, notification entries and policy
statements stay, and so does the topic while anything else still uses it.

The buckets stay unless asked for, and a bucket that holds anything (objects, old
versions, delete markers) is never deleted: S3 refuses that itself, and the plan
refuses it before any change, so that a refused teardown leaves everything as it was.
A kept bucket keeps the public access block `provision` set: it only protects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from botocore.exceptions import ClientError

from docproc.aws import MISSING, error_code

# provision.py's own helpers, not copies: the two must agree on what docproc's parts
# look like (their Id, Sid and URL rules).
from docproc.provision import (
    NOTIFICATION_ID,
    POLICY_SID,
    Clients,
    ProvisionError,
    Step,
    apply,
    bucket_exists,
    check_bucket_name,
    display_url,
    explain,
    find_topic,
    statements,
    webhook_protocol,
)
from docproc.settings import DEFAULT_TOPIC_NAME

__all__ = ["BucketNotEmpty", "apply", "plan_teardown"]

# Gone already (SNS says InvalidParameter for a subscription deleted meanwhile).
_GONE = MISSING | {"InvalidParameter"}


class BucketNotEmpty(ProvisionError):
    """`--delete-buckets` on a bucket that holds objects: nothing is deleted, nothing changed."""


def _ours(entry: Mapping[str, Any], topic_name: str) -> bool:
    """docproc's entry for this topic, even when the topic is already gone (no ARN to compare)."""
    return entry.get("Id") == NOTIFICATION_ID and str(entry.get("TopicArn", "")).endswith(
        f":{topic_name}"
    )


def _unsubscribe(subscription_arn: str) -> Callable[[Clients], object]:
    def action(clients: Clients) -> None:
        try:
            clients.sns.unsubscribe(SubscriptionArn=subscription_arn)
        except ClientError as exc:
            if error_code(exc) not in _GONE:  # removed since the plan: the goal is met
                raise

    return action


def _remove_notification(bucket: str, topic_name: str) -> Callable[[Clients], object]:
    def action(clients: Clients) -> None:
        """Read again at apply time, so that an entry added since the plan is not lost."""
        current = clients.s3.get_bucket_notification_configuration(Bucket=bucket)
        config: dict[str, Any] = {k: v for k, v in current.items() if k != "ResponseMetadata"}
        entries = config.get("TopicConfigurations", [])
        config["TopicConfigurations"] = [e for e in entries if not _ours(e, topic_name)]
        if not config["TopicConfigurations"]:
            del config["TopicConfigurations"]
        clients.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=cast("Any", config)
        )

    return action


def _remove_statement(topic_arn: str) -> Callable[[Clients], object]:
    def action(clients: Clients) -> None:
        """Read again at apply time, so that a statement added since the plan is not lost."""
        attributes = clients.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        policy: dict[str, Any] = json.loads(attributes.get("Policy") or "{}")
        others = [s for s in statements(policy) if s.get("Sid") != POLICY_SID]
        clients.sns.set_topic_attributes(
            TopicArn=topic_arn,
            AttributeName="Policy",
            AttributeValue=json.dumps({**policy, "Statement": others}),
        )

    return action


def _delete_bucket(bucket: str) -> Callable[[Clients], object]:
    def action(clients: Clients) -> None:
        try:
            clients.s3.delete_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) not in _GONE:  # BucketNotEmpty too: S3 refuses, explain() says so
                raise

    return action


def _subscriptions(clients: Clients, topic_arn: str) -> list[dict[str, Any]]:
    with explain(f"list the subscriptions of {topic_arn}"):
        pages = clients.sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=topic_arn
        )
        return [sub for page in pages for sub in page.get("Subscriptions", [])]


def _notification_entries(clients: Clients, bucket: str) -> list[dict[str, Any]]:
    with explain(f"read the notification configuration of bucket {bucket}"):
        config = clients.s3.get_bucket_notification_configuration(Bucket=bucket)
    return [dict(e) for e in config.get("TopicConfigurations", [])]


def _unsubscribe_steps(
    subs: list[dict[str, Any]], topic_arn: str, webhook_url: str, protocol: str
) -> list[Step]:
    """A pending subscription has no ARN to unsubscribe: it goes with the topic, or
    expires by itself (AWS drops it after three days unconfirmed)."""
    shown = display_url(webhook_url)
    return [
        Step(f"unsubscribe {shown} from {topic_arn}", _unsubscribe(str(s["SubscriptionArn"])))
        for s in subs
        if _is_mine(s, webhook_url, protocol)
        and str(s.get("SubscriptionArn", "")).startswith("arn:")
    ]


def _is_mine(sub: Mapping[str, Any], webhook_url: str, protocol: str) -> bool:
    return sub.get("Endpoint") == webhook_url and sub.get("Protocol") == protocol


def _topic_steps(
    clients: Clients,
    topic_arn: str,
    others: int,
    other_entries: list[dict[str, Any]],
) -> list[Step]:
    """Delete the topic, or only docproc's statement while something else uses it.

    In use: another endpoint is subscribed, or a notification entry docproc did not make
    delivers to it (that entry needs the statement that lets the bucket publish: kept).
    """
    feeding = [e for e in other_entries if e.get("TopicArn") == topic_arn]
    if not others and not feeding:
        return [Step(f"delete topic {topic_arn}", lambda c: c.sns.delete_topic(TopicArn=topic_arn))]
    if feeding:
        return []
    with explain(f"read the policy of {topic_arn}"):
        attributes = clients.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    if not any(
        s.get("Sid") == POLICY_SID for s in statements(json.loads(attributes.get("Policy") or "{}"))
    ):
        return []
    return [
        Step(
            f"remove docproc's statement from the policy of {topic_arn} "
            f"(topic kept: {others} other subscription(s))",
            _remove_statement(topic_arn),
        )
    ]


def _bucket_steps(clients: Clients, buckets: list[str]) -> list[Step]:
    """Delete each bucket that exists; BucketNotEmpty, before any change, if one holds anything."""
    steps = []
    for bucket in buckets:
        with explain(f"check bucket {bucket}"):
            if not bucket_exists(clients, bucket):
                continue
            # Versions and delete markers too: S3 refuses to delete a bucket that has any.
            listed = clients.s3.list_object_versions(Bucket=bucket, MaxKeys=1)
        if listed.get("Versions") or listed.get("DeleteMarkers"):
            raise BucketNotEmpty(
                f"bucket {bucket} holds objects: it is kept, and nothing was changed "
                "(empty it first, or run without --delete-buckets)"
            )
        steps.append(Step(f"delete bucket {bucket} (empty)", _delete_bucket(bucket)))
    return steps


def plan_teardown(
    clients: Clients,
    *,
    source_bucket: str,
    target_bucket: str,
    webhook_url: str,
    topic_name: str = DEFAULT_TOPIC_NAME,
    delete_buckets: bool = False,
) -> list[Step]:
    """The changes that undo `provision`, in reverse order; reads only, changes nothing.

    ValueError for bad input before any request; BucketNotEmpty when `delete_buckets`
    names a bucket that holds objects; ProvisionError when AWS refuses a read.
    """
    check_bucket_name(source_bucket)
    check_bucket_name(target_bucket)
    protocol = webhook_protocol(webhook_url)

    # Without the account the ARN of a missing topic cannot be predicted, and is not needed.
    topic = find_topic(clients, topic_name, None)
    with explain(f"check bucket {source_bucket}"):
        source_exists = bucket_exists(clients, source_bucket)
    entries = _notification_entries(clients, source_bucket) if source_exists else []
    ours = [e for e in entries if _ours(e, topic_name)]
    others = [e for e in entries if not _ours(e, topic_name)]

    buckets = [source_bucket, target_bucket] if delete_buckets else []
    deletions = _bucket_steps(clients, list(dict.fromkeys(buckets)))

    steps: list[Step] = []
    subs = _subscriptions(clients, topic.require_arn()) if topic.exists else []
    if topic.exists:
        steps += _unsubscribe_steps(subs, topic.require_arn(), webhook_url, protocol)
    if ours:
        steps.append(
            Step(
                f"stop notifying {ours[0]['TopicArn']} from bucket {source_bucket}",
                _remove_notification(source_bucket, topic_name),
            )
        )
    if topic.exists:
        mine = sum(_is_mine(s, webhook_url, protocol) for s in subs)
        steps += _topic_steps(clients, topic.require_arn(), len(subs) - mine, others)
    return steps + deletions
