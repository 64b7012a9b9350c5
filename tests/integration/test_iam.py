"""The policies of `provision --iam-policy` enforced for real, by a moto server that checks IAM.

A moto server of this module's own (the shared one never checks IAM): with
`INITIAL_NO_AUTH_ACTION_COUNT=3` it lets the first three requests through unchecked,
which make an administrator; every later request is signed and authorised against
the policies of the user whose keys signed it.

What moto checks, and what it does not (moto 5.2.5): actions and resource ARNs are
checked as IAM does; conditions are not evaluated (the `s3:prefix` condition of a
source prefix cannot be tested here); HEAD on a bucket is checked as `s3:HeadBucket`,
which is no IAM action (AWS checks `s3:ListBucket`); an SNS request is checked against
the resource `*`, so a policy naming the topic is denied every SNS action there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult
from sqlalchemy import Engine

from devtools.emulator import free_port, stop, wait_for_http
from docproc import iam, storage
from docproc.errors import ObjectMissing
from docproc.models import ObjectRef
from tests.support.pipeline import clear_tables

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class Moto:
    """A moto server that enforces IAM, and an administrator's session on it."""

    endpoint: str
    admin: boto3.session.Session

    def client(self, service: str, session: boto3.session.Session | None = None) -> Any:
        return (session or self.admin).client(service, endpoint_url=self.endpoint)

    def user_with(self, policy: dict[str, Any]) -> boto3.session.Session:
        """A new user whose only permissions are `policy`; a session with its own keys."""
        admin_iam = self.client("iam")
        name = f"user-{uuid.uuid4().hex[:8]}"
        admin_iam.create_user(UserName=name)
        admin_iam.put_user_policy(
            UserName=name, PolicyName="docproc", PolicyDocument=json.dumps(policy)
        )
        key = admin_iam.create_access_key(UserName=name)["AccessKey"]
        return _session(key["AccessKeyId"], key["SecretAccessKey"])


def _session(key_id: str, secret: str) -> boto3.session.Session:
    """Explicit keys and no session token: moto refuses a user's key sent with a token."""
    return boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1"
    )


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[Moto]:
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/")
        # The three unchecked requests: any keys will do.
        bootstrap = _session("bootstrap", "bootstrap").client("iam", endpoint_url=endpoint)
        bootstrap.create_user(UserName="admin")
        bootstrap.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ADMIN_POLICY)
        )
        key = bootstrap.create_access_key(UserName="admin")["AccessKey"]
        yield Moto(endpoint, _session(key["AccessKeyId"], key["SecretAccessKey"]))
    finally:
        stop(proc)


def _denied(call: Callable[[], object]) -> bool:
    """True for IAM's refusal; any other answer, success or error, is False."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"]) == "AccessDenied"
    return False


@dataclass
class Buckets:
    source: str
    target: str


@pytest.fixture
def buckets(moto_iam: Moto) -> Buckets:
    suffix = uuid.uuid4().hex[:8]
    found = Buckets(f"src-{suffix}", f"dst-{suffix}")
    s3 = moto_iam.client("s3")
    for bucket in (found.source, found.target):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=found.source, Key="in/a.txt", Body=b"invoice a")
    s3.put_object(Bucket=found.source, Key="in/b.txt", Body=b"invoice b")
    s3.put_object(Bucket=found.target, Key="private/kept.csv", Body=b"not the workers'")
    return found


def test_the_enforcement_is_real(moto_iam: Moto, buckets: Buckets) -> None:
    """Without this, every other test here could pass on a server that allows everything."""
    unrelated = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}],
    }
    s3 = moto_iam.client("s3", moto_iam.user_with(unrelated))
    assert _denied(lambda: s3.get_object(Bucket=buckets.source, Key="in/a.txt"))
    assert not _denied(
        lambda: moto_iam.client("s3").get_object(Bucket=buckets.source, Key="in/a.txt")
    )


def test_the_worker_policy_lets_the_workers_do_their_work_through_storage(
    moto_iam: Moto, buckets: Buckets
) -> None:
    policy = iam.worker_policy(
        source_bucket=buckets.source, target_bucket=buckets.target, export_prefix="csv/"
    )
    s3 = storage.s3_client(moto_iam.user_with(policy), endpoint_url=moto_iam.endpoint)

    listed = [o.ref.key for page in storage.iter_pages(s3, buckets.source, "in/") for o in page]
    assert listed == ["in/a.txt", "in/b.txt"]
    fetched = storage.fetch(s3, ObjectRef(buckets.source, "in/a.txt"), max_bytes=1024)
    assert fetched.body == b"invoice a"
    # s3:ListBucket makes a missing key a 404 (ObjectMissing), not a 403.
    with pytest.raises(ObjectMissing):
        storage.fetch(s3, ObjectRef(buckets.source, "in/gone.txt"), max_bytes=1024)
    assert storage.exists(s3, buckets.source, "in/b.txt")
    storage.put(s3, buckets.target, "csv/c1/i1.csv", b"a,b\n", "text/csv")
    storage.put(s3, buckets.target, "rejected/in/b.txt.json", b"{}", "application/json")

    keys = moto_iam.client("s3").list_objects_v2(Bucket=buckets.target)["Contents"]
    assert {o["Key"] for o in keys} == {
        "csv/c1/i1.csv",
        "rejected/in/b.txt.json",
        "private/kept.csv",
    }


def test_the_worker_policy_refuses_everything_else(moto_iam: Moto, buckets: Buckets) -> None:
    policy = iam.worker_policy(
        source_bucket=buckets.source, target_bucket=buckets.target, export_prefix="csv/"
    )
    s3 = moto_iam.client("s3", moto_iam.user_with(policy))
    src, dst = buckets.source, buckets.target

    refused = {
        "write the source bucket": lambda: s3.put_object(Bucket=src, Key="in/new.txt", Body=b"x"),
        "write another target prefix": lambda: s3.put_object(Bucket=dst, Key="x/y", Body=b"x"),
        "read another target prefix": lambda: s3.get_object(Bucket=dst, Key="private/kept.csv"),
        "read its own exports back": lambda: s3.get_object(Bucket=dst, Key="csv/c1/i1.csv"),
        "list the target bucket": lambda: s3.list_objects_v2(Bucket=dst),
        "delete a source object": lambda: s3.delete_object(Bucket=src, Key="in/a.txt"),
        "delete a target object": lambda: s3.delete_object(Bucket=dst, Key="private/kept.csv"),
        "delete a bucket": lambda: s3.delete_bucket(Bucket=dst),
        "create a bucket": lambda: s3.create_bucket(Bucket=f"{src}-more"),
        "change a notification": lambda: s3.put_bucket_notification_configuration(
            Bucket=src, NotificationConfiguration={}
        ),
        "list every bucket": lambda: s3.list_buckets(),
    }
    assert [what for what, call in refused.items() if not _denied(call)] == []
    # Nothing changed on the way.
    admin = moto_iam.client("s3")
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=src)["Contents"]] == [
        "in/a.txt",
        "in/b.txt",
    ]


def test_the_webhook_policy_allows_confirming_subscriptions_and_nothing_else(
    moto_iam: Moto,
) -> None:
    admin_sns = moto_iam.client("sns")
    topic = admin_sns.create_topic(Name=f"events-{uuid.uuid4().hex[:8]}")["TopicArn"]
    other = admin_sns.create_topic(Name=f"other-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns = moto_iam.client("sns", moto_iam.user_with(iam.webhook_policy(topic)))

    refused = {
        "publish": lambda: sns.publish(TopicArn=topic, Message="x"),
        "subscribe": lambda: sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://x/"),
        "list topics": lambda: sns.list_topics(),
        "delete the topic": lambda: sns.delete_topic(TopicArn=topic),
        "set attributes": lambda: sns.set_topic_attributes(
            TopicArn=topic, AttributeName="DisplayName", AttributeValue="x"
        ),
    }
    assert [what for what, call in refused.items() if not _denied(call)] == []
    s3 = moto_iam.client("s3", moto_iam.user_with(iam.webhook_policy(topic)))
    assert _denied(lambda: s3.list_buckets())

    # moto checks SNS requests against the resource `*`: the same policy with `*` for the
    # topic shows that `sns:ConfirmSubscription` is the action SNS checks...
    anywhere = moto_iam.client("sns", moto_iam.user_with(iam.webhook_policy("*")))
    assert not _denied(lambda: anywhere.confirm_subscription(TopicArn=topic, Token="t" * 32))
    assert _denied(lambda: anywhere.publish(TopicArn=topic, Message="x"))
    # ...and moto's IAM evaluator, given the real resource, allows it on this topic only.
    evaluator = IAMPolicy(json.dumps(iam.webhook_policy(topic)))
    assert evaluator.is_action_permitted("sns:ConfirmSubscription", topic) == (
        PermissionResult.PERMITTED
    )
    assert evaluator.is_action_permitted("sns:ConfirmSubscription", other) != (
        PermissionResult.PERMITTED
    )
    assert evaluator.is_action_permitted("sns:Publish", topic) != PermissionResult.PERMITTED


SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
BAD = SAMPLE.replace(b"Total: 8150", b"Total: 8100")


@pytest.mark.usefixtures("prefect_api")
def test_process_and_backfill_run_with_the_worker_policy_alone(
    moto_iam: Moto,
    buckets: Buckets,
    mysql_url: str,
    mysql_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real flows, with the worker user's keys as boto3's own variables."""
    from flows.backfill import backfill_prefix
    from flows.process_invoice import process_invoice
    from tasks import resources

    admin = moto_iam.client("s3")
    admin.put_object(Bucket=buckets.source, Key="in/good.txt", Body=SAMPLE)
    admin.put_object(Bucket=buckets.source, Key="in/bad.txt", Body=BAD)
    for n in range(2, 5):
        body = SAMPLE.replace(b"inv-00001", f"inv-{n:05d}".encode())
        admin.put_object(Bucket=buckets.source, Key=f"batch/{n}.txt", Body=body)
    policy = iam.worker_policy(
        source_bucket=buckets.source, target_bucket=buckets.target, export_prefix="csv/"
    )
    keys = moto_iam.user_with(policy).get_credentials()
    assert keys is not None
    clear_tables(mysql_engine)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_iam.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("DOCPROC_DATABASE_URL", mysql_url)
    monkeypatch.setenv("DOCPROC_SOURCE_BUCKET", buckets.source)
    monkeypatch.setenv("DOCPROC_TARGET_BUCKET", buckets.target)
    monkeypatch.setenv("DOCPROC_EXPORT_PREFIX", "csv/")
    resources.reset()
    try:
        good = process_invoice(buckets.source, "in/good.txt", return_state=True)
        bad = process_invoice(buckets.source, "in/bad.txt", return_state=True)
        backfill = backfill_prefix(buckets.source, "batch/", return_state=True)
    finally:
        resources.reset()

    assert good.result(raise_on_failure=False).status == "loaded"
    assert bad.result(raise_on_failure=False).status == "rejected"
    summary = backfill.result(raise_on_failure=False)
    assert dict(summary.statuses) == {"loaded": 3}, summary
    written = {o["Key"] for o in admin.list_objects_v2(Bucket=buckets.target)["Contents"]}
    assert written == {
        "private/kept.csv",
        "csv/sm-LK0080145/inv-00001.csv",
        "csv/sm-LK0080145/inv-00002.csv",
        "csv/sm-LK0080145/inv-00003.csv",
        "csv/sm-LK0080145/inv-00004.csv",
        "rejected/in/bad.txt.json",
    }
