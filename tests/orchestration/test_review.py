"""SPEC 12's review end to end: uploads held or flagged by `docproc serve`'s runs open
`review` runs that wait, suspended, for the UI's form; answered through Prefect's own
resume API with a run input (what the form sends), and through `review decide`."""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.input.run_input import keyset_from_paused_state
from prefect.states import Scheduled
from sqlalchemy import select
from typer.testing import CliRunner

from docproc import loader, schema
from docproc.cli import app
from docproc.models import ObjectRef
from flows.reconcile import reconcile
from tasks import resources
from tasks import review as reviewing
from tests.support.orchestration import CHANGED, SAMPLE, variant, wait_for
from tests.support.pipeline import Served

pytestmark = pytest.mark.usefixtures("prefect_api")
CSV = "sm-LK0080145/inv-00001.csv"
FAR_AHEAD = datetime.now(UTC) + timedelta(days=365)  # never started by the served runner


def review_run(bucket: str, key: str) -> FlowRun | None:
    with get_client(sync_client=True) as client:
        runs = reviewing.review_runs(client, ObjectRef(bucket, key))
    assert len(runs) <= 1, [r.name for r in runs]  # one per document version
    return runs[0] if runs else None


def state_of(bucket: str, key: str) -> StateType | None:
    run = review_run(bucket, key)
    return run.state.type if run is not None and run.state is not None else None


def uploaded(served: Served, key: str, body: bytes) -> ObjectRef:
    pipeline = served.pipeline
    ref = ObjectRef(pipeline.source, key, pipeline.upload(key, body))
    wait_for(lambda: loader.find_document(pipeline.engine, ref) is not None)
    return ref


def document(served: Served, key: str) -> Any:
    with served.pipeline.engine.connect() as conn:
        return conn.execute(
            select(schema.documents).where(schema.documents.c.object_key == key)
        ).one()


def reviews_recorded(served: Served) -> list[tuple[object, ...]]:
    with served.pipeline.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    schema.document_reviews.c.document_id,
                    schema.document_reviews.c.decision,
                    schema.document_reviews.c.note,
                    schema.document_reviews.c.decided_by,
                )
            )
        ]


def test_a_held_conflict_answered_replace_in_the_form_loads_the_new_document(
    served: Served,
) -> None:
    source = served.pipeline.source
    uploaded(served, "in/a.txt", SAMPLE)
    uploaded(served, "in/b.txt", CHANGED)
    assert document(served, "in/b.txt").reasons == "conflicting_duplicate"
    wait_for(lambda: state_of(source, "in/b.txt") == StateType.PAUSED)
    run = review_run(source, "in/b.txt")
    assert run is not None and run.name == "review: sm-LK0080145 / inv-00001"
    with get_client(sync_client=True) as client:
        [artifact] = [
            a for a in client.read_artifacts() if a.flow_run_id == run.id and a.type == "markdown"
        ]
        assert "| item 5 amount | 850.00 | 950.00 |" in str(artifact.data)
        assert f"(s3://{source}/in/a.txt)" in str(artifact.data)
        # The form shows the same table above its fields.
        assert run.state is not None
        shown = client.read_flow_run_input(
            run.id, keyset_from_paused_state(run.state)["description"]
        )
        assert json.loads(shown) == artifact.data  # stored as JSON
        answer = client.resume_flow_run(
            run.id,
            run_input={"decision": "replace", "note": "confirmed by phone", "decided_by": "Ana"},
        )
    assert answer.status.value == "ACCEPT", answer
    wait_for(lambda: state_of(source, "in/b.txt") == StateType.COMPLETED)
    final = review_run(source, "in/b.txt")
    assert final is not None and final.state is not None
    assert final.state.message == "replace"
    b = document(served, "in/b.txt")
    assert (b.status, b.reasons, b.flags) == ("loaded", None, "reviewed")
    assert reviews_recorded(served) == [(b.id, "replace", "confirmed by phone", "Ana")]
    with served.pipeline.engine.connect() as conn:
        totals = conn.execute(select(schema.invoices.c.total, schema.invoices.c.source_key)).all()
    assert [(int(t), k) for t, k in totals] == [(8250, "in/b.txt")]
    assert b"8250" in served.pipeline.read_target(CSV)

    # The same version processed again opens no second review (review_run asserts one).
    again = CliRunner().invoke(app, ["review", "decide", f"s3://{source}/in/b.txt", "keep"])
    assert again.exit_code == 0, again.output
    assert "already decided replace" in again.output
    assert review_run(source, "in/b.txt") is not None


def test_a_suspect_decided_duplicate_by_the_command_ends_its_run(served: Served) -> None:
    source = served.pipeline.source
    uploaded(served, "in/s-a.txt", SAMPLE)
    uploaded(served, "in/c.txt", variant("inv-00002"))
    assert document(served, "in/c.txt").flags == "possible_duplicate"
    wait_for(lambda: state_of(source, "in/c.txt") == StateType.PAUSED)
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list"], env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    assert f"s3://{source}/in/c.txt\tsm-LK0080145/inv-00002\tsuspect" in listed.output

    none = runner.invoke(app, ["review", "decide", f"s3://{source}/in/s-a.txt", "keep"])
    assert none.exit_code == 2, none.output
    done = runner.invoke(
        app, ["review", "decide", f"s3://{source}/in/c.txt", "duplicate", "--note", "same"]
    )
    assert done.exit_code == 0, done.output
    run = review_run(source, "in/c.txt")
    assert run is not None and run.state is not None
    assert (run.state.type, run.state.message) == (StateType.COMPLETED, "duplicate")
    c, a = document(served, "in/c.txt"), document(served, "in/s-a.txt")
    assert (c.status, c.flags, c.duplicate_of) == ("duplicate", "reviewed", a.id)
    assert reviews_recorded(served) == [(c.id, "duplicate", "same", getpass.getuser())]
    assert "sm-LK0080145/inv-00002.csv" not in served.pipeline.target_keys()
    assert CSV in served.pipeline.target_keys()


def held_conflict(served: Served, folder: str) -> tuple[ObjectRef, FlowRun]:
    """folder/b.txt held as a conflict of folder/a.txt, and its review run, suspended.
    (A folder per test: `serve` remembers the versions it was handed.)"""
    uploaded(served, f"{folder}/a.txt", SAMPLE)
    b = uploaded(served, f"{folder}/b.txt", CHANGED)
    wait_for(lambda: state_of(b.bucket, b.key) == StateType.PAUSED)
    run = review_run(b.bucket, b.key)
    assert run is not None
    return b, run


def test_a_review_left_unanswered_ends_cancelled_with_nothing_changed(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, _ = held_conflict(served, "unanswered")
    before = document(served, b.key)
    monkeypatch.setenv("DOCPROC_REVIEW_TIMEOUT_HOURS", "0.0001")  # 0.36 s
    resources.reset()
    time.sleep(0.5)
    reconcile(bucket=b.bucket, prefix="nothing-here/")  # the schedule's flow ends it
    run = review_run(b.bucket, b.key)
    assert run is not None and run.state is not None
    assert run.state.type == StateType.CANCELLED, run.state
    assert "unanswered" in (run.state.message or "")
    assert document(served, b.key) == before
    assert reviews_recorded(served) == []
    listed = CliRunner().invoke(app, ["review", "list"], env={"COLUMNS": "300"})
    assert f"{b.uri}\tsm-LK0080145/inv-00001\tconflict" in listed.output  # still asked


def test_a_review_run_started_again_after_its_decision_applies_nothing_twice(
    served: Served,
) -> None:
    """The run applied the answer and died before it ended: started again (resumed, or
    retried from the UI), it finds the decision and changes nothing."""
    b, run = held_conflict(served, "restarted")
    reviewing.apply(b, "replace", "first answer", "Ana")  # what the resumed run did
    with get_client(sync_client=True) as client:
        client.resume_flow_run(run.id, run_input={"decision": "keep", "note": "second"})
    wait_for(lambda: state_of(b.bucket, b.key) == StateType.COMPLETED)
    final = review_run(b.bucket, b.key)
    assert final is not None and final.state is not None
    assert final.state.message == "replace"
    b_id = document(served, b.key).id
    assert reviews_recorded(served) == [(b_id, "replace", "first answer", "Ana")]
    with served.pipeline.engine.connect() as conn:
        totals = conn.execute(select(schema.invoices.c.total, schema.invoices.c.source_key)).all()
        items = conn.execute(select(schema.invoice_items.c.line_no)).all()
    assert [(int(t), k) for t, k in totals] == [(8250, b.key)]
    assert len(items) == 5
    assert b"8250" in served.pipeline.read_target(CSV)


async def _waiting_reviews(bucket: str, count: int) -> list[FlowRun]:
    """`count` review runs scheduled far ahead, created a few at a time (SQLite server)."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(reviewing.REVIEW_DEPLOYMENT)
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> FlowRun:
            async with gate:
                return await client.create_flow_run_from_deployment(
                    deployment.id,
                    parameters={"bucket": bucket, "key": f"many/{i:03}.txt", "etag": None},
                    state=Scheduled(scheduled_time=FAR_AHEAD),
                )

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_the_runs_of_a_document_are_found_among_more_than_a_page_of_waiting_reviews(
    served: Served,
) -> None:
    """A month-end leaves hundreds of questions open; `review decide` must still find its
    run (the server answers 200 runs a read, in no order of ours)."""
    # Left in place when done: a year ahead, no runner starts them, and deleting them
    # costs as long again on the SQLite server.
    created = asyncio.run(_waiting_reviews(served.pipeline.source, reviewing.RUNS_PAGE + 20))
    # The server's default order is by id, descending: the least id comes last.
    last = min(created, key=lambda run: run.id)
    wanted = ObjectRef(served.pipeline.source, last.parameters["key"])
    with get_client(sync_client=True) as client:
        found = reviewing.review_runs(client, wanted, reviewing.WAITING)
        assert [r.id for r in found] == [last.id]
        assert reviewing.end_review_run(wanted, "keep") == [str(last.id)]
        assert reviewing.review_runs(client, wanted, reviewing.WAITING) == []
