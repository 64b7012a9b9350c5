"""The least-privilege IAM policies of SPEC section 11, as documents built from the settings.

Two identities, two policies: the webhook only confirms subscriptions to the topic (it
hands events on and touches no bucket); the workers list and read the source bucket
and write the target bucket's export and reject prefixes. Nothing may delete, and
nothing may write the source bucket: SPEC section 5 says it is never modified.
"""

from __future__ import annotations

from typing import Any

from docproc.aws import TopicArn
from docproc.provision import Clients, explain, find_topic
from docproc.settings import DEFAULT_REJECT_PREFIX

VERSION = "2012-10-17"

Policy = dict[str, Any]


def _object_arn(partition: str, bucket: str, prefix: str) -> str:
    """Every key under the prefix; an empty prefix is the whole bucket."""
    return f"arn:{partition}:s3:::{bucket}/{prefix}*"


def worker_policy(
    *,
    source_bucket: str,
    target_bucket: str,
    export_prefix: str = "",
    reject_prefix: str = DEFAULT_REJECT_PREFIX,
    source_prefix: str = "",
    partition: str = "aws",
) -> Policy:
    """The policy for whatever runs `process`, `backfill` and `reconcile` (the flow runners).

    - list the source bucket (only under `source_prefix` when one is given: the
      `s3:prefix` condition) and read its objects (HEAD needs the same `s3:GetObject`;
      `s3:ListBucket` also makes a missing key answer 404 rather than 403);
    - put objects under the target bucket's export and reject prefixes.

    An empty `export_prefix` (the default, SPEC section 8) puts the CSVs at the top of
    the target bucket: the policy then has to allow writing the whole target bucket,
    and the reject prefix adds nothing (likewise for an empty `reject_prefix`). Give
    both a prefix to confine the workers' writes.
    """
    source = f"arn:{partition}:s3:::{source_bucket}"
    listing: dict[str, Any] = {
        "Sid": "ListSourceBucket",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": source,
    }
    if source_prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [source_prefix, f"{source_prefix}*"]}}
    writable = (
        [_object_arn(partition, target_bucket, "")]
        if not export_prefix or not reject_prefix
        else sorted(
            {
                _object_arn(partition, target_bucket, export_prefix),
                _object_arn(partition, target_bucket, reject_prefix),
            }
        )
    )
    return {
        "Version": VERSION,
        "Statement": [
            listing,
            {
                "Sid": "ReadSourceObjects",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": _object_arn(partition, source_bucket, source_prefix),
            },
            {
                "Sid": "WriteExportsAndRejectionReports",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": writable,
            },
        ],
    }


def webhook_policy(topic_arn: str) -> Policy:
    """The policy for the webhook: confirm subscriptions to docproc's topic, nothing else.

    The webhook hands events to Prefect and reads no bucket; `ConfirmSubscription`
    through the API (instead of fetching `SubscribeURL`) is the one AWS call it makes.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ConfirmTopicSubscriptions",
                "Effect": "Allow",
                "Action": "sns:ConfirmSubscription",
                "Resource": topic_arn,
            }
        ],
    }


def topic_arn(clients: Clients, name: str) -> str:
    """The topic's ARN for the webhook's policy: the existing topic's, else the one
    `provision` will create, from the caller's account (STS); no `*` in either case.

    ProvisionError when neither can be read: then pass the ARN (`--topic-arn`).
    """
    topic = find_topic(clients, name, None)
    if topic.exists:
        return topic.require_arn()
    with explain(f"read the account id (STS) to name topic {name}; or pass --topic-arn"):
        account: str = clients.sts.get_caller_identity()["Account"]
    return str(TopicArn(clients.partition, clients.region, account, name))


def policies(
    *,
    topic_arn: str,
    source_bucket: str,
    target_bucket: str,
    export_prefix: str,
    reject_prefix: str,
) -> dict[str, Policy]:
    """Both documents, named by the role each goes to, in the partition of the topic's ARN."""
    try:
        partition = TopicArn.parse(topic_arn).partition
    except ValueError:  # not an ARN (a typo of --topic-arn): the policies say so as given
        partition = "aws"
    return {
        "webhook": webhook_policy(topic_arn),
        "workers": worker_policy(
            source_bucket=source_bucket,
            target_bucket=target_bucket,
            export_prefix=export_prefix,
            reject_prefix=reject_prefix,
            partition=partition,
        ),
    }
