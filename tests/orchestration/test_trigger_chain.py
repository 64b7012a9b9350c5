"""The upload end to end: S3 upload -> SNS (moto) -> webhook -> deployment run; and the
deployment's trigger: an upload's event from elsewhere (a Prefect Cloud webhook) -> run.

Everything runs as it would for a user: `python -m docproc serve` in its own
process against the session's Prefect API, moto's bucket notification and SNS
HTTP delivery, MariaDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from sqlalchemy import select

from devtools.emulator import free_port, stop, wait_for_http
from docproc import events, loader, provision, schema
from docproc.models import ObjectRef
from tests.conftest import Pipeline

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()

pytestmark = pytest.mark.usefixtures("prefect_api")


def variant(invoice_id: str) -> bytes:
    return SAMPLE.replace(b"inv-00001", invoice_id.encode())


@pytest.fixture
def served(pipeline: Pipeline, mysql_url: str, tmp_path) -> Iterator[tuple[str, str]]:
    """`docproc serve` on a free port, subscribed to the source bucket's topic."""
    from prefect.settings import PREFECT_API_URL

    port = free_port()
    topic_name = f"topic-{pipeline.source}"
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{topic_name}"
    env = os.environ | {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "DOCPROC_DATABASE_URL": mysql_url,
        "DOCPROC_SNS_VERIFY": "false",  # moto's signatures cannot be verified
        "DOCPROC_SNS_TOPIC_ARNS": topic_arn,
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "docproc", "serve", "--port", str(port), "--poll-seconds", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", timeout=60)
        clients = provision.make_clients()
        steps = provision.plan(
            clients,
            source_bucket=pipeline.source,
            target_bucket=pipeline.target,
            webhook_url=f"{url}/sns",
            topic_name=topic_name,
        )
        provision.apply(clients, steps)
        yield url, topic_arn
    finally:
        stop(proc)
        log.close()
        print((tmp_path / "serve.log").read_text(errors="replace")[-5000:])


def wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s")
        time.sleep(0.25)


def runs_named(fragment: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=fragment))
        )


def notification(topic_arn: str, bucket: str, key: str, etag: str, message_id: str) -> bytes:
    """An SNS envelope as moto sends it for one ObjectCreated record."""
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag, "size": 1}},
    }
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": "Amazon S3 Notification",
            "Message": json.dumps({"Records": [record]}),
            "Timestamp": "2026-11-25T08:00:00.000Z",
        }
    ).encode()


def test_an_upload_is_loaded_and_exported_with_nothing_done_by_hand(
    pipeline: Pipeline, served: tuple[str, str]
) -> None:
    url, topic_arn = served
    etag = pipeline.upload("in/inv 1+2.txt", variant("inv-e2e-1"))
    ref = ObjectRef(pipeline.source, "in/inv 1+2.txt", etag)
    wait_for(lambda: loader.find_document(pipeline.engine, ref) is not None)  # written last
    assert "sm-LK0080145/inv-e2e-1.csv" in pipeline.target_keys()
    with pipeline.engine.connect() as conn:
        doc = conn.execute(select(schema.documents)).one()
    assert (doc.object_key, doc.etag, doc.status) == ("in/inv 1+2.txt", etag, "loaded")

    # The same notification delivered five more times (SNS retries, S3 duplicates with
    # new MessageIds): acknowledged, and no second run.
    for n in range(5):
        body = notification(topic_arn, pipeline.source, "in/inv+1%2B2.txt", etag, f"dup-{n}")
        answer = httpx.post(f"{url}/sns", content=body, headers={"Content-Type": "text/plain"})
        assert answer.status_code == 200
    time.sleep(4)  # more than the runner's poll: a second run would have started
    runs = runs_named("inv 1+2.txt")
    assert len(runs) == 1, [r.name for r in runs]
    assert runs[0].name == f"inv-e2e-1 from s3://{pipeline.source}/in/inv 1+2.txt"


def test_an_upload_event_from_elsewhere_starts_its_run_through_the_trigger(
    pipeline: Pipeline, served: tuple[str, str], prefect_api: str
) -> None:
    """A Prefect Cloud webhook (README) sends `docproc.s3.object.created` itself: the
    trigger of `process-invoice` turns it into the run; docproc's webhook is not involved
    (the bucket has no notification)."""
    bucket = f"{pipeline.source}-cloud"
    pipeline.s3.create_bucket(Bucket=bucket)
    body = variant("inv-cloud-1")
    etag = str(pipeline.s3.put_object(Bucket=bucket, Key="in/cloud.txt", Body=body)["ETag"])
    ref = ObjectRef(bucket, "in/cloud.txt", etag.strip('"'))
    answer = httpx.post(f"{prefect_api}/events", json=[events.object_created(ref)], timeout=10)
    assert answer.status_code == 204
    wait_for(lambda: loader.find_document(pipeline.engine, ref) is not None)
    [run] = runs_named(f"{bucket}/in/cloud.txt")
    assert run.name == f"inv-cloud-1 from s3://{bucket}/in/cloud.txt"
    assert "sm-LK0080145/inv-cloud-1.csv" in pipeline.target_keys()


def test_a_message_from_another_topic_starts_nothing(
    pipeline: Pipeline, served: tuple[str, str]
) -> None:
    url, _ = served
    forged = notification(
        "arn:aws:sns:us-east-1:999999999999:evil", pipeline.source, "in/forged.txt", "e", "m1"
    )
    answer = httpx.post(f"{url}/sns", content=forged, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 403
    time.sleep(3)
    assert runs_named("forged") == []
    assert pipeline.target_keys() == []
