"""The IAM documents of `provision --iam-policy`: what each statement allows, and nothing more."""

from __future__ import annotations

import json

from docproc import iam


def _by_sid(policy: dict[str, object]) -> dict[str, dict[str, object]]:
    statements = policy["Statement"]
    assert isinstance(statements, list)
    return {s["Sid"]: s for s in statements}


def test_the_worker_policy_reads_the_source_and_writes_the_two_prefixes() -> None:
    policy = iam.worker_policy(
        source_bucket="src", target_bucket="dst", export_prefix="csv/", reject_prefix="rejected/"
    )
    assert policy["Version"] == "2012-10-17"
    assert _by_sid(policy) == {
        "ListSourceBucket": {
            "Sid": "ListSourceBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::src",
        },
        "ReadSourceObjects": {
            "Sid": "ReadSourceObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::src/*",
        },
        "WriteExportsAndRejectionReports": {
            "Sid": "WriteExportsAndRejectionReports",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": ["arn:aws:s3:::dst/csv/*", "arn:aws:s3:::dst/rejected/*"],
        },
    }
    # Plain JSON, as `provision --iam-policy` prints it.
    assert json.loads(json.dumps(policy)) == policy


def test_a_source_prefix_confines_listing_and_reading() -> None:
    statements = _by_sid(
        iam.worker_policy(source_bucket="src", target_bucket="dst", source_prefix="in/")
    )
    assert statements["ListSourceBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": ["in/", "in/*"]}
    }
    assert statements["ReadSourceObjects"]["Resource"] == "arn:aws:s3:::src/in/*"


def test_an_empty_export_or_reject_prefix_means_the_whole_target_bucket() -> None:
    for export, reject in [("", "rejected/"), ("csv/", "")]:
        policy = iam.worker_policy(
            source_bucket="src", target_bucket="dst", export_prefix=export, reject_prefix=reject
        )
        assert _by_sid(policy)["WriteExportsAndRejectionReports"]["Resource"] == [
            "arn:aws:s3:::dst/*"
        ]


def test_the_worker_policy_allows_no_delete_no_source_write_and_no_wildcard_action() -> None:
    policy = iam.worker_policy(
        source_bucket="src", target_bucket="dst", export_prefix="csv/", partition="aws-cn"
    )
    statements = list(_by_sid(policy).values())
    assert {s["Effect"] for s in statements} == {"Allow"}
    assert sorted(str(s["Action"]) for s in statements) == [
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    put = _by_sid(policy)["WriteExportsAndRejectionReports"]["Resource"]
    assert isinstance(put, list)
    assert all(r.startswith("arn:aws-cn:s3:::dst/") for r in put)


def test_the_webhook_policy_confirms_subscriptions_to_its_topic_only() -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:docproc-source-events"
    assert iam.webhook_policy(arn) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConfirmTopicSubscriptions",
                "Effect": "Allow",
                "Action": "sns:ConfirmSubscription",
                "Resource": arn,
            }
        ],
    }
