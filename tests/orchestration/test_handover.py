"""The hand-over against the session's Prefect server: a group's `process-batch` run, or a
lone object's `process-invoice` run, is created from the deployment (not by a trigger),
once however often it is delivered, and the event names it.

The deployments come from `prefect.yaml` through `prefect deploy`, as a user would make
them; no worker runs here, so the runs stay scheduled (and are deleted afterwards).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.exceptions import ObjectAlreadyExists

from deployments.handover import PrefectHandOver
from docproc import events
from docproc.grouping import MAX_GROUP
from docproc.models import ObjectRef
from docproc.webhook import HandOverError
from flows.process_batch import run_name
from tests.support.faultproxy import HttpFaultProxy
from tests.support.orchestration import group_events

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("prefect_api")


def deployed(name: str) -> Iterator[uuid.UUID]:
    """Deployment `name` of `prefect.yaml`, deployed; its runs still scheduled are deleted after."""
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name="docproc", type="process"))
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "-n", name],
        cwd=REPO,
        env=os.environ | {"DOCPROC_HOME": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(f"{name}/{name}").id
    yield deployment_id
    # Gone before any later test's worker or runner could start them.
    with get_client(sync_client=True) as client:
        for run in runs_of(deployment_id):
            if run.state is not None and run.state.is_scheduled():
                client.delete_flow_run(run.id)


# Once per module (a `prefect deploy` takes seconds): each test's objects are in buckets
# of its own, and its runs are looked up by bucket.
@pytest.fixture(scope="module")
def batch_deployment(prefect_api: str) -> Iterator[uuid.UUID]:
    yield from deployed("process-batch")


@pytest.fixture(scope="module")
def invoice_deployment(prefect_api: str) -> Iterator[uuid.UUID]:
    yield from deployed("process-invoice")


def runs_of(deployment_id: uuid.UUID, name: str = "") -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name)) if name else None,
        )


def group(size: int) -> list[ObjectRef]:
    bucket = f"handover-{uuid.uuid4().hex[:8]}"
    return [ObjectRef(bucket, f"in/{i:03d}.txt", f"etag{i}") for i in range(size)]


def test_a_group_delivered_twice_is_one_batch_run_named_by_its_event(
    batch_deployment: uuid.UUID, prefect_api: str
) -> None:
    with get_client(sync_client=True) as client:
        owned = client.read_resource_related_automations(f"prefect.deployment.{batch_deployment}")
    assert owned == []  # no trigger: it would start a second run of every group

    refs = group(MAX_GROUP)  # the largest group: an event per 99 of its objects
    bucket, keys = refs[0].bucket, [r.key for r in refs]
    hand_over = PrefectHandOver()
    try:
        hand_over(refs)
        hand_over(list(reversed(refs)))  # SNS delivers again; the group is the same
    finally:
        hand_over.close()

    [run] = runs_of(batch_deployment, bucket)
    assert run.name == run_name(bucket, keys)
    assert run.parameters["bucket"] == bucket
    assert run.parameters["objects"] == [[r.key, r.etag] for r in refs]
    assert run.idempotency_key == str(events.group_id(refs))
    assert run.state is not None and run.state.is_scheduled()

    step = events.MAX_OBJECTS_PER_EVENT
    chunks = [refs[i : i + step] for i in range(0, len(refs), step)]
    found = group_events(prefect_api, bucket, len(chunks))
    assert {e["id"] for e in found} == {str(events.group_id(c)) for c in chunks}  # stored once
    for event in found:
        runs = [r for r in event["related"] if r["prefect.resource.role"] == "flow-run"]
        assert runs == [
            {
                "prefect.resource.id": f"prefect.flow-run.{run.id}",
                "prefect.resource.role": "flow-run",
            }
        ]
    assert sum(len(e["related"]) - 1 for e in found) == len(refs)


def test_a_lone_object_delivered_twice_is_one_invoice_run_and_no_triggered_one(
    invoice_deployment: uuid.UUID, prefect_api: str
) -> None:
    """The webhook creates a lone object's run itself: under a burst the server's trigger
    action met the lock and the server does not retry a failed action, so an accepted
    event could end with no run. The hand-over's event must not fire the trigger as well."""
    with get_client(sync_client=True) as client:
        [automation] = client.read_resource_related_automations(
            f"prefect.deployment.{invoice_deployment}"
        )
    assert automation.enabled  # the trigger is live: events from elsewhere still start runs

    [ref] = group(1)
    hand_over = PrefectHandOver()
    try:
        hand_over([ref])
        hand_over([ref])
    finally:
        hand_over.close()
    [run] = runs_of(invoice_deployment, ref.bucket)
    assert run.name == ref.uri
    assert run.parameters == {"bucket": ref.bucket, "key": ref.key, "etag": ref.etag}
    assert run.idempotency_key == str(events.event_id(ref))
    [event] = group_events(prefect_api, ref.bucket)
    assert event["event"] == events.OBJECTS_CREATED
    assert event["related"][-1]["prefect.resource.id"] == f"prefect.flow-run.{run.id}"
    time.sleep(3)  # a trigger that matched the event would have created its run by now
    assert len(runs_of(invoice_deployment, ref.bucket)) == 1


def test_a_busy_api_gives_each_object_one_run_and_refused_events_refuse_nothing(
    batch_deployment: uuid.UUID,
    invoice_deployment: uuid.UUID,
    prefect_faults: HttpFaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Run creations answered 503 for a while are tried again; events refused after the runs
    exist cost a warning: a 503 would make SNS deliver the objects again, into second runs."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    refs = group(3)
    [lone] = group(1)
    prefect_faults.busy_for(0.5, r"^POST .*/deployments/[^/]+/create_flow_run$")
    prefect_faults.busy_for(60, r"^POST .*/api/events$")
    with temporary_settings({PREFECT_API_URL: prefect_faults.url + "/api"}):
        hand_over = PrefectHandOver()
        try:
            hand_over(refs)
            hand_over([lone])
            hand_over(list(reversed(refs)))  # SNS delivers again all the same
        finally:
            hand_over.close()
    assert all(prefect_faults.answered_503.values()), prefect_faults.answered_503
    [batch] = runs_of(batch_deployment, refs[0].bucket)
    assert batch.parameters["objects"] == [[r.key, r.etag] for r in refs]
    [invoice] = runs_of(invoice_deployment, lone.bucket)
    assert invoice.parameters["key"] == lone.key
    refused = [r.getMessage() for r in caplog.records if "did not take the event" in r.getMessage()]
    assert len(refused) == 3


def test_without_the_deployment_a_group_is_refused_and_no_run_exists(prefect_api: str) -> None:
    missing = "process-batch/not-deployed"
    refs = group(3)
    hand_over = PrefectHandOver(batch_deployment=missing)
    try:
        with pytest.raises(HandOverError, match=f"deployment {missing} not found"):
            hand_over(refs)
    finally:
        hand_over.close()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=refs[0].bucket))
        )
    assert runs == []
