"""A fanned-out backfill: batches as child runs, shared by two process workers of a work pool.

The deployment comes from `prefect.yaml` through `prefect deploy`, as a user would make it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.exceptions import ObjectAlreadyExists

from devtools.emulator import stop
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from tests.support.archive import COUNT, document, invalid, key, rows
from tests.support.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]
POOL = "docproc"  # as prefect.yaml names it

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def workers(pipeline: Pipeline, mysql_url: str, tmp_path: Path) -> Iterator[list[Path]]:
    """Two process workers of the pool, with the `backfill-batch` deployment registered."""
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
    env = os.environ | {"DOCPROC_HOME": str(REPO), "DOCPROC_DATABASE_URL": mysql_url}
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "-n", "backfill-batch"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    logs, procs = [], []
    for n in range(2):
        log = tmp_path / f"worker-{n}.log"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                 "--type", "process", "--name", f"worker-{n}"],
                cwd=REPO,
                env=env | {"PREFECT_WORKER_QUERY_SECONDS": "1"},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        logs.append(log)
    yield logs
    for proc in procs:
        stop(proc)


def test_fan_out_shares_the_batches_between_workers(
    pipeline: Pipeline, workers: list[Path]
) -> None:
    count = COUNT // 2
    for i in range(count):
        pipeline.upload(key(i), document(i))
    state = backfill_prefix(
        pipeline.source, "archive/", batch_size=20, fan_out=2, return_state=True
    )
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, Summary), summary
    rejected = sum(invalid(i) for i in range(count))
    assert dict(summary.statuses) == {"loaded": count - rejected, "rejected": rejected}
    assert len(rows(pipeline)["documents"]) == count

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(
                    any_=[state.state_details.flow_run_id]
                )
            )
        )
    batches = [c for c in children if c.name.startswith("batch ")]
    assert len(batches) == count // 20
    assert all(c.state_name == "Completed" for c in batches)
    assert {c.work_pool_name for c in batches} == {POOL}
    taken = [
        log.read_text(errors="replace").count("submitted to infrastructure") for log in workers
    ]
    print("child runs per worker:", taken)
    assert sum(taken) == len(batches)
