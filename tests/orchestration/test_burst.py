"""A burst of uploads through the real chain: grouped into batch runs, each object once.

S3 PUTs from many threads at once (moto) -> SNS -> `docproc serve`'s webhook, which
groups what arrives together and creates each group's `process-batch` run itself (then
posts the group's `docproc.s3.objects.created` event, naming the run).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterName,
)
from prefect.client.schemas.objects import TERMINAL_STATES
from sqlalchemy import delete, func, select

from docproc import events, schema
from docproc.models import ObjectRef
from flows.process_batch import process_batch
from tests.support.orchestration import group_events, variant, wait_for
from tests.support.pipeline import Pipeline, Served

pytestmark = pytest.mark.usefixtures("prefect_api")

UPLOADS = 30
BAD = 7  # this upload is not an invoice


def documents(pipeline: Pipeline) -> list[tuple[str, str, str]]:
    with pipeline.engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.documents.c.object_key, schema.documents.c.etag, schema.documents.c.status
            )
        ).all()
    return sorted((r.object_key, r.etag, r.status) for r in rows)


def runs_of(deployment: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
        )


def finished(runs: list) -> bool:
    return all(r.state is not None and r.state.type in TERMINAL_STATES for r in runs)


def test_a_burst_is_grouped_and_every_object_recorded_once(
    served: Served, prefect_api: str
) -> None:
    pipeline = served.pipeline

    def upload(i: int) -> ObjectRef:
        body = b"not an invoice at all\n" if i == BAD else variant(f"inv-burst-{i:03d}")
        key = f"in/burst-{i:03d}.txt"
        return ObjectRef(pipeline.source, key, pipeline.upload(key, body))

    before = {r.id for r in runs_of("process-invoice") + runs_of("process-batch")}
    with ThreadPoolExecutor(UPLOADS) as pool:
        refs = list(pool.map(upload, range(UPLOADS)))
    wait_for(lambda: len(documents(pipeline)) >= UPLOADS, timeout=180)
    wait_for(lambda: finished(runs_of("process-batch")), timeout=60)

    rows = documents(pipeline)
    assert [(k, e) for k, e, _ in rows] == sorted((r.key, r.etag) for r in refs)  # once each
    statuses = {k: s for k, _, s in rows}
    assert statuses.pop(refs[BAD].key) == "rejected"  # the bad one alone
    assert set(statuses.values()) == {"loaded"}
    assert len(pipeline.target_keys()) == UPLOADS  # 29 CSVs and one rejection report

    batches = [r for r in runs_of("process-batch") if r.id not in before]
    singles = [r for r in runs_of("process-invoice") if r.id not in before]
    assert batches, "no upload was grouped"
    assert len(batches) + len(singles) < UPLOADS
    handed = sorted(k for run in batches for k, _ in run.parameters["objects"])
    handed += [run.parameters["key"] for run in singles]
    assert sorted(handed) == sorted(r.key for r in refs)  # every object in exactly one run
    for run in batches:
        keys = [k for k, _ in run.parameters["objects"]]
        assert run.name.startswith(f"{len(keys)} objects from s3://{pipeline.source} ")
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
        [artifact] = artifacts
        assert all(f"| {key} |" in str(artifact.data) for key in keys)

    # Created by the webhook (a trigger's run has a key of its own), named by its event.
    by_key = {r.key: r for r in refs}
    for run in batches:
        keys = [k for k, _ in run.parameters["objects"]]
        assert run.idempotency_key == str(events.group_id([by_key[k] for k in keys]))

    def named() -> dict[str, set[str]]:
        return {
            e["id"]: {
                r["prefect.resource.id"]
                for r in e["related"]
                if r["prefect.resource.role"] == "flow-run"
            }
            for e in group_events(prefect_api, pipeline.source)
        }

    wait_for(lambda: {r.idempotency_key for r in batches} <= set(named()), timeout=30)
    naming = named()
    for run in batches:
        assert naming[run.idempotency_key] == {f"prefect.flow-run.{run.id}"}


def test_a_group_run_again_after_a_crash_doubles_nothing(served: Served) -> None:
    pipeline = served.pipeline
    refs = [
        ObjectRef(pipeline.source, key, pipeline.upload(key, variant(f"inv-again-{i}")))
        for i, key in enumerate(f"in/again-{i}.txt" for i in range(4))
    ]
    wait_for(lambda: len(documents(pipeline)) == len(refs))
    wait_for(lambda: finished(runs_of("process-batch") + runs_of("process-invoice")))
    recorded = documents(pipeline)
    objects = [[r.key, r.etag] for r in refs]

    # The same group event delivered again: every version is already recorded.
    again = process_batch(pipeline.source, objects, return_state=True)
    assert again.is_completed()
    assert again.result().statuses == {"skipped": len(refs)}
    assert documents(pipeline) == recorded

    # A run cut short before its load committed: outputs written, no rows for half.
    with pipeline.engine.begin() as conn:
        conn.execute(
            delete(schema.documents).where(
                schema.documents.c.object_key.in_([r.key for r in refs[:2]])
            )
        )
    rerun = process_batch(pipeline.source, objects, return_state=True)
    assert rerun.result().statuses == {"loaded": 2, "skipped": 2}
    assert documents(pipeline) == recorded
    with pipeline.engine.connect() as conn:
        invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
    assert invoices == len(refs)
