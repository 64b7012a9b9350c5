"""`provision`, `deprovision` and `provision --iam-policy` as typed, against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from docproc.cli import app

WEBHOOK = "https://hooks.example.com/sns"
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@dataclass
class Account:
    source: str
    target: str
    topic: str
    s3: Any
    sns: Any

    def topic_arns(self) -> list[str]:
        arns = [t["TopicArn"] for t in self.sns.list_topics()["Topics"]]
        return [a for a in arns if a.endswith(f":{self.topic}")]

    def subscriptions(self) -> list[str]:
        subs = self.sns.list_subscriptions()["Subscriptions"]
        return [s["Endpoint"] for s in subs if s["TopicArn"].endswith(f":{self.topic}")]

    def notifications(self) -> list[Any]:
        config = self.s3.get_bucket_notification_configuration(Bucket=self.source)
        return list(config.get("TopicConfigurations", []))

    def buckets(self) -> set[str]:
        names = {b["Name"] for b in self.s3.list_buckets()["Buckets"]}
        return names & {self.source, self.target}


@pytest.fixture
def account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    from tasks import resources

    suffix = uuid.uuid4().hex[:8]
    names = Account(
        f"src-{suffix}",
        f"dst-{suffix}",
        f"events-{suffix}",
        boto3.client("s3"),
        boto3.client("sns"),
    )
    monkeypatch.setenv("DOCPROC_SOURCE_BUCKET", names.source)
    monkeypatch.setenv("DOCPROC_TARGET_BUCKET", names.target)
    resources.reset()
    yield names
    resources.reset()


def cli(account: Account, command: str, *args: str) -> Any:
    return runner.invoke(
        app, [command, "--webhook-url", WEBHOOK, "--topic-name", account.topic, *args]
    )


def test_deprovision_after_provision_leaves_nothing_it_created(account: Account) -> None:
    made = cli(account, "provision")
    assert made.exit_code == 0, made.output
    assert account.topic_arns() and account.subscriptions() == [WEBHOOK]
    assert account.notifications()

    planned = cli(account, "deprovision", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "plan (" in planned.output and f"unsubscribe {WEBHOOK}" in planned.output
    assert account.subscriptions() == [WEBHOOK]  # a dry run changes nothing

    undone = cli(account, "deprovision")
    assert undone.exit_code == 0, undone.output
    assert "applying (" in undone.output
    assert account.topic_arns() == []
    assert account.subscriptions() == []
    assert account.notifications() == []
    assert account.buckets() == {account.source, account.target}  # kept unless asked

    twice = cli(account, "deprovision")
    assert twice.exit_code == 0, twice.output
    assert "nothing to change" in twice.output

    gone = cli(account, "deprovision", "--delete-buckets")
    assert gone.exit_code == 0, gone.output
    assert account.buckets() == set()
    assert cli(account, "deprovision", "--delete-buckets").exit_code == 0


def test_delete_buckets_refuses_a_bucket_that_holds_objects(account: Account) -> None:
    assert cli(account, "provision").exit_code == 0
    account.s3.put_object(Bucket=account.target, Key="inv-00001.csv", Body=b"x")

    refused = cli(account, "deprovision", "--delete-buckets")

    assert refused.exit_code == 1
    assert f"bucket {account.target} holds objects" in refused.output
    assert account.buckets() == {account.source, account.target}
    assert account.subscriptions() == [WEBHOOK]  # refused before any change


def test_deprovision_needs_a_webhook_url(account: Account) -> None:
    result = runner.invoke(app, ["deprovision"])
    assert result.exit_code == 2
    assert "--webhook-url" in result.output


def test_iam_policies_name_the_configured_resources_and_create_nothing(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks import resources

    monkeypatch.setenv("DOCPROC_EXPORT_PREFIX", "csv/")
    resources.reset()
    result = runner.invoke(app, ["provision", "--iam-policy", "--topic-name", account.topic])

    assert result.exit_code == 0, result.output
    policies = json.loads(result.output)
    assert set(policies) == {"webhook", "workers"}
    (confirm,) = policies["webhook"]["Statement"]
    # The account comes from STS (moto's), the region from the session: no wildcard.
    assert confirm["Resource"] == f"arn:aws:sns:us-east-1:123456789012:{account.topic}"
    assert confirm["Action"] == "sns:ConfirmSubscription"
    workers = {s["Sid"]: s for s in policies["workers"]["Statement"]}
    assert workers["ListSourceBucket"]["Resource"] == f"arn:aws:s3:::{account.source}"
    assert workers["ReadSourceObjects"]["Resource"] == f"arn:aws:s3:::{account.source}/*"
    assert workers["WriteExportsAndRejectionReports"]["Resource"] == [
        f"arn:aws:s3:::{account.target}/csv/*",
        f"arn:aws:s3:::{account.target}/rejected/*",
    ]
    assert all("*" not in str(s["Action"]) for s in policies["workers"]["Statement"])
    assert account.topic_arns() == [] and account.buckets() == set()


def test_iam_policy_with_a_topic_arn_needs_no_aws(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOCPROC_", "AWS_"))}
    arn = "arn:aws-cn:sns:cn-north-1:111122223333:docproc-source-events"
    result = subprocess.run(
        [sys.executable, "-m", "docproc", "provision", "--iam-policy", "--topic-arn", arn],
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    policies = json.loads(result.stdout)
    assert policies["webhook"]["Statement"][0]["Resource"] == arn
    # The partition follows the topic's: a China account's buckets are arn:aws-cn.
    assert policies["workers"]["Statement"][0]["Resource"] == "arn:aws-cn:s3:::docproc-source"


def test_provision_without_webhook_url_or_iam_policy_exits_2(account: Account) -> None:
    result = runner.invoke(app, ["provision"])
    assert result.exit_code == 2
    assert "--webhook-url is required" in result.output
