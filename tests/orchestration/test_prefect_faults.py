"""A month-end burst while the Prefect API is busy: nothing lost, nothing doubled.

The lost document of issue 13: the local server's SQLite was locked, Prefect's client
gave up after its own retries, and `load` failed on the concurrency slot with a 503.
Here a proxy in front of the session's Prefect API answers that 503 to slot, rename
and artifact calls for a while, and a few dozen uploads run at once in a separate
process, as a runner would run them, pointed at the proxy. (Task-run states travel
as events over a websocket in Prefect 3.9, not as calls that can answer 503.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prefect.client.schemas.objects import FlowRun
from sqlalchemy import func, select

from docproc import schema
from tasks import writer_slot
from tests.support.faultproxy import FaultProxy, HttpFaultProxy
from tests.support.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]
COUNT = 30

pytestmark = pytest.mark.usefixtures("prefect_api")


def document(n: int) -> bytes:
    sample = (REPO / "docproc" / "samples" / "docproc-invoice.txt").read_bytes()
    return sample.replace(b"inv-00001", f"inv-{n:05d}".encode())


def burst(pipeline: Pipeline, api_url: str, keys: list[str]) -> list[dict[str, str]]:
    return burst_with_log(pipeline, api_url, keys)[0]


def burst_with_log(
    pipeline: Pipeline, api_url: str, keys: list[str]
) -> tuple[list[dict[str, str]], str]:
    """Run `process-invoice` for every key at once, in a fresh process that uses `api_url`."""
    env = os.environ | {"PREFECT_API_URL": api_url}
    done = subprocess.run(
        [sys.executable, "-m", "tests.orchestration.test_prefect_faults", pipeline.source, *keys],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return outcomes, done.stderr


def test_a_burst_against_a_busy_prefect_api_loads_every_document_once(
    pipeline: Pipeline, prefect_faults: HttpFaultProxy
) -> None:
    keys = [f"burst/{n:05d}.txt" for n in range(COUNT)]
    for n, key in enumerate(keys):
        pipeline.upload(key, document(n))
    # From the first such call on, the API is busy for a while: the slot, the rename
    # after parsing and the invoice artifact after loading.
    prefect_faults.busy_for(2, r"^POST .*/v2/concurrency_limits/increment")
    prefect_faults.busy_for(2, r"^PATCH .*/flow_runs/[^/]+$", body=b'"name"')
    prefect_faults.busy_for(2, r"^POST .*/artifacts/$")

    outcomes = burst(pipeline, prefect_faults.url + "/api", keys)

    answered = prefect_faults.answered_503
    assert all(answered.values()), answered  # each kind of fault did happen
    with pipeline.engine.connect() as conn:
        documents = conn.execute(
            select(schema.documents.c.object_key, func.count()).group_by(
                schema.documents.c.object_key
            )
        ).all()
        invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
    unfinished = [o for o in outcomes if o["state"] != "COMPLETED"]
    rows = dict(documents)
    assert rows == {key: 1 for key in keys}, ([k for k in keys if rows.get(k) != 1], unfinished)
    assert invoices == COUNT
    assert len(pipeline.target_keys()) == COUNT
    assert not unfinished


def test_a_slot_release_the_api_refuses_costs_a_warning_not_the_load(
    pipeline: Pipeline, prefect_faults: HttpFaultProxy
) -> None:
    """The rows are in when the release fails: the run completes, the lease frees the slot."""
    pipeline.upload("in/a.txt", document(1))
    # One answer per attempt: the first and one after each wait (about 13 s in all).
    attempts = len(writer_slot.BUSY_RETRY_SECONDS) + 1
    prefect_faults.fail_next(attempts, r"^POST .*/v2/concurrency_limits/decrement-with-lease$")

    outcomes, log = burst_with_log(pipeline, prefect_faults.url + "/api", ["in/a.txt"])

    assert list(prefect_faults.answered_503.values()) == [attempts]
    assert [o["state"] for o in outcomes] == ["COMPLETED"], outcomes
    assert "could not release a docproc-mysql-writers slot" in log
    with pipeline.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.documents)).scalar_one() == 1


def test_a_run_that_fails_before_its_row_says_so_in_one_line(
    pipeline: Pipeline, db_faults: FaultProxy
) -> None:
    """MySQL stays away longer than the retries: the run's log names what reconcile will find."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    from flows.process_invoice import process_invoice

    pipeline.upload("in/a.txt", document(1))
    db_faults.drop_when(b"INSERT INTO invoices", times=10)  # more than the retries
    state = process_invoice(pipeline.source, "in/a.txt", return_state=True)

    assert state.is_failed()
    with pipeline.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.documents)).scalar_one() == 0
    APILogWorker.drain_all(timeout=5)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    said = [log.message for log in logs if "no documents row" in log.message]
    assert said == [
        f"s3://{pipeline.source}/in/a.txt: no documents row written; "
        "reconcile or a backfill of its prefix will process it"
    ]


def test_a_batch_run_waits_out_a_busy_slot_api(
    pipeline: Pipeline, prefect_faults: HttpFaultProxy
) -> None:
    """A burst's group run takes its writer slot in the flow body, where no task retries
    it: the acquisition itself waits out a busy API instead of failing the whole group."""
    keys = [f"group/{n:05d}.txt" for n in range(5)]
    for n, key in enumerate(keys):
        pipeline.upload(key, document(100 + n))
    prefect_faults.busy_for(3, r"^POST .*/v2/concurrency_limits/increment")

    [outcome] = burst(pipeline, prefect_faults.url + "/api", ["--batch", *keys])

    assert all(prefect_faults.answered_503.values()), prefect_faults.answered_503
    assert outcome["state"] == "COMPLETED", outcome
    with pipeline.engine.connect() as conn:
        rows = conn.execute(select(schema.documents.c.object_key, schema.documents.c.status)).all()
    assert sorted(rows) == [(key, "loaded") for key in keys]


def _main(bucket: str, keys: list[str]) -> None:
    """The burst's process: one thread per upload, one JSON line per outcome.

    Each run is created first and then run, as a runner runs the runs a trigger
    created. Creating 30 runs at once keeps the test server's own SQLite busy
    now and then; that part, the trigger's on a real server, is retried here.
    """
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from docproc.errors import is_transient
    from flows.process_invoice import process_invoice

    def create(parameters: dict[str, str]) -> FlowRun:
        for attempt in range(5):
            try:
                with get_client(sync_client=True) as client:
                    return client.create_flow_run(process_invoice, parameters=parameters)
            except Exception as exc:
                if not is_transient(exc) or attempt == 4:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def one(key: str) -> dict[str, str]:
        parameters = {"bucket": bucket, "key": key}
        flow_run = create(parameters)
        try:
            state = run_flow(process_invoice, flow_run, parameters, return_type="state")
        except Exception as exc:  # a crashed run is an outcome here, not the end of the burst
            return {"key": key, "state": "raised", "message": repr(exc)}
        return {"key": key, "state": state.type.value, "message": state.message or ""}

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        for outcome in pool.map(one, keys):
            print(json.dumps(outcome), flush=True)


def _batch_main(bucket: str, keys: list[str]) -> None:
    """One `process-batch` run over all keys, as the webhook creates it for a group."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from flows.process_batch import process_batch

    parameters = {"bucket": bucket, "objects": [[key, ""] for key in keys]}
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(process_batch, parameters=parameters)
    state = run_flow(process_batch, flow_run, parameters, return_type="state")
    print(json.dumps({"state": state.type.value, "message": state.message or ""}), flush=True)


if __name__ == "__main__":
    if sys.argv[2] == "--batch":
        _batch_main(sys.argv[1], sys.argv[3:])
    else:
        _main(sys.argv[1], sys.argv[2:])


def test_a_review_is_opened_through_a_busy_api(
    pipeline: Pipeline, prefect_faults: HttpFaultProxy
) -> None:
    """A held document's question gets its run although the API answers 503 a while (CI
    saw one lost so: `review list` had the question, the UI no run)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from docproc.models import ObjectRef
    from flows.review import review
    from tasks import review as reviewing

    with get_client(sync_client=True) as client:  # the deployment `serve` would declare
        flow_id = client.create_flow_from_name(review.name)
        client.create_deployment(flow_id, name="review")
    ref = ObjectRef(pipeline.source, "busy/held.txt", "e1")
    prefect_faults.busy_for(4, r"^POST .*/deployments/.*/create_flow_run")
    with temporary_settings({PREFECT_API_URL: prefect_faults.url + "/api"}):
        opened = reviewing.open_review(ref)
    assert all(prefect_faults.answered_503.values()), prefect_faults.answered_503
    assert opened is not None
    with get_client(sync_client=True) as client:
        [run] = reviewing.review_runs(client, ref)
        assert str(run.id) == opened
        client.delete_flow_run(run.id)  # no runner should start it
