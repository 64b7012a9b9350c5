"""The upload end to end: S3 upload -> SNS (moto) -> webhook -> deployment run; and the
deployment's trigger: an upload's event from elsewhere (a Prefect Cloud webhook) -> run.

Everything runs as it would for a user: `python -m docproc serve` in its own
process against the session's Prefect API, moto's bucket notification and SNS
HTTP delivery, MariaDB.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from sqlalchemy import select

from docproc import events, loader, schema
from docproc.models import ObjectRef
from tests.support.orchestration import variant, wait_for
from tests.support.pipeline import Served

pytestmark = pytest.mark.usefixtures("prefect_api")
DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"


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


def test_an_upload_is_loaded_and_exported_with_nothing_done_by_hand(served: Served) -> None:
    url, topic_arn, pipeline = served.url, served.topic_arn, served.pipeline
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


def test_e_invoices_are_judged_by_the_official_rules_in_served_runs(served: Served) -> None:
    """A served run is forked from `serve`'s forkserver. With the stylesheets compiled there
    before the fork, Saxon (a GraalVM native image) crashed the Factur-X PDF's run (SIGSEGV,
    exit -11: no row, ever); each run compiles what it needs instead (SPEC 3.1)."""
    pipeline = served.pipeline
    ubl = (DATA / "en16931-ubl" / "ubl-tc434-example2.xml").read_bytes()
    uploads = {
        "in/factur-x.pdf": (DATA / "factur-x" / "invoice_EN16931.pdf").read_bytes(),
        "in/br-cl-13.xml": ubl.replace(
            b'<cbc:ItemClassificationCode listID="STI">65434568',
            b'<cbc:ItemClassificationCode listID="XX">65434568',
        ),
    }
    refs = [ObjectRef(pipeline.source, key, pipeline.upload(key, b)) for key, b in uploads.items()]
    wait_for(lambda: all(loader.find_document(pipeline.engine, ref) for ref in refs))
    with pipeline.engine.connect() as conn:
        docs = conn.execute(
            select(
                schema.documents.c.object_key, schema.documents.c.status, schema.documents.c.flags
            )
        ).all()
        rules = conn.execute(select(schema.document_findings.c.rule)).scalars().all()
    assert sorted(tuple(d) for d in docs) == [
        ("in/br-cl-13.xml", "loaded", "nonconformant"),
        ("in/factur-x.pdf", "loaded", None),
    ]
    assert "BR-CL-13" in rules


def test_an_upload_event_from_elsewhere_starts_its_run_through_the_trigger(
    served: Served, prefect_api: str
) -> None:
    """A Prefect Cloud webhook (README) sends `docproc.s3.object.created` itself: the
    trigger of `process-invoice` turns it into the run; docproc's webhook is not involved
    (the bucket has no notification)."""
    pipeline = served.pipeline
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


def test_a_message_from_another_topic_starts_nothing(served: Served) -> None:
    url, pipeline = served.url, served.pipeline
    forged = notification(
        "arn:aws:sns:us-east-1:999999999999:evil", pipeline.source, "in/forged.txt", "e", "m1"
    )
    answer = httpx.post(f"{url}/sns", content=forged, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 403
    time.sleep(3)
    assert runs_named("forged") == []
    assert pipeline.target_keys() == []
