"""`docproc serve` as a user runs it: started once per module that needs it.

Starting it (a runner that imports every flow, a webhook, a subscription) takes seconds;
the tests of a module share it and its buckets, each with empty tables and an empty
target bucket.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from devtools.emulator import free_port, stop, wait_for_http
from docproc import provision
from tests.support.pipeline import Served, new_pipeline, pointed_at


@pytest.fixture(scope="module")
def serving(
    moto_endpoint: str,
    mysql_url: str,
    mysql_engine: Engine,
    prefect_api: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """`docproc serve` on a free port, subscribed to the topic of buckets of its own."""
    pipeline = new_pipeline(mysql_engine)
    forget_unstarted_reviews()
    port = free_port()
    topic_name = f"topic-{pipeline.source}"
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{topic_name}"
    env = os.environ | {
        "PREFECT_API_URL": prefect_api,
        "DOCPROC_DATABASE_URL": mysql_url,
        "DOCPROC_SOURCE_BUCKET": pipeline.source,
        "DOCPROC_TARGET_BUCKET": pipeline.target,
        "DOCPROC_SNS_VERIFY": "false",  # moto's signatures cannot be verified
        "DOCPROC_SNS_TOPIC_ARNS": topic_arn,
    }
    path = tmp_path_factory.mktemp("serve") / "serve.log"
    log = path.open("wb")
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
        yield Served(url, topic_arn, pipeline, path)
    finally:
        stop(proc)
        log.close()
        forget_unstarted_reviews()


def forget_unstarted_reviews() -> None:
    """Delete the review runs due that no `serve` has started: a burst of look-alikes
    (or a backfill of them, in-process) asks dozens of questions of buckets and tables
    that are gone by the next module, whose `serve` would start every one of them
    before its own runs. (Runs scheduled far ahead stay: no runner starts them.)"""
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    from tasks import review

    soon = datetime.now(UTC) + timedelta(hours=1)
    with get_client(sync_client=True) as client:
        try:
            runs = review.review_runs(client, None, [StateType.SCHEDULED, StateType.PENDING])
        except ObjectNotFound:
            return  # no review deployment yet
        for run in runs:
            if run.expected_start_time is None or run.expected_start_time < soon:
                client.delete_flow_run(run.id)


@pytest.fixture
def served(serving: Served, mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The module's `docproc serve`, with empty tables and target bucket, the DOCPROC_*
    settings of this process pointing at its buckets."""
    serving.pipeline.empty_target()
    start = serving.log.stat().st_size
    with pointed_at(serving.pipeline, mysql_url, monkeypatch):
        yield serving
    with serving.log.open("rb") as log:  # this test's part, shown when it fails
        log.seek(start)
        print(log.read().decode(errors="replace")[-5000:])
