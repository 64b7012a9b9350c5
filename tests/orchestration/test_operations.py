"""Operations (SPEC section 11) as a user runs them: `reconcile`, `backfill --status`,
against moto, MariaDB and a started Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from docproc import events, schema
from docproc.cli import app
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from flows.process_invoice import process_invoice
from flows.reconcile import reconcile
from tests.support.pipeline import Pipeline

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("prefect_api")


def invoice(number: int) -> bytes:
    return SAMPLE.replace(b"inv-00001", f"inv-{number:05d}".encode())


def words_wrong(number: int) -> bytes:
    """Rejected for words_mismatch alone."""
    return invoice(number).replace(b"one hundred fifty only", b"one hundred only")


def date_wrong(number: int) -> bytes:
    """Rejected for bad_date alone."""
    return invoice(number).replace(b"Mar 31 2018", b"Feb 30 2018")


def processed(pipeline: Pipeline, key: str) -> str:
    outcome = process_invoice(pipeline.source, key, return_state=True).result(
        raise_on_failure=False
    )
    return str(outcome.status)


# The run is killed (SIGKILL, no clean-up of any kind) at the moment it would write
# its `documents` row: after fetch, parse, validate and the CSV, before the record.
CRASHING_RUN = """
import os, signal, sys
from docproc import loader
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
loader.record = killed
from flows.process_invoice import process_invoice
process_invoice(sys.argv[1], sys.argv[2])
"""


def crashed_run(pipeline: Pipeline, key: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, pipeline.source, key],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -9, result.stderr[-3000:]


def documents(pipeline: Pipeline) -> dict[str, tuple[str, str | None]]:
    """Each version's recorded status and run, by key digest order of insertion."""
    d = schema.documents
    with pipeline.engine.connect() as conn:
        rows = conn.execute(select(d.c.object_key, d.c.status, d.c.flow_run_id)).all()
    return {row.object_key: (row.status, row.flow_run_id) for row in rows}


def test_reconcile_names_exactly_the_pending_then_processes_them(pipeline: Pipeline) -> None:
    for n, key in enumerate(["in/a.txt", "in/b.txt"], start=1):
        pipeline.upload(key, invoice(n))
        assert processed(pipeline, key) == "loaded"
    pipeline.upload("in/bad.txt", words_wrong(3))
    assert processed(pipeline, "in/bad.txt") == "rejected"
    # Never notified: nothing ever started a run for it.
    pipeline.upload("in/never.txt", invoice(4))
    # A run that was killed mid-way, before its row.
    pipeline.upload("in/crashed.txt", invoice(5))
    crashed_run(pipeline, "in/crashed.txt")
    assert "in/crashed.txt" not in documents(pipeline)

    first = runner.invoke(app, ["reconcile", f"s3://{pipeline.source}/in/", "--older-than", "0"])

    assert first.exit_code == 1, first.output
    pending = sorted(line.split()[1] for line in first.output.splitlines() if "pending s3" in line)
    assert pending == [f"s3://{pipeline.source}/in/{k}" for k in ["crashed.txt", "never.txt"]]
    assert "processed: loaded" in first.output and "rejected for words_mismatch" in first.output

    # A generous --older-than: both are too recent to tell, nothing is pending.
    patient = runner.invoke(app, ["reconcile", f"s3://{pipeline.source}/in/"])
    assert patient.exit_code == 0, patient.output

    done = runner.invoke(
        app, ["reconcile", f"s3://{pipeline.source}/in/", "--older-than", "0", "--process"]
    )
    assert done.exit_code == 0, done.output
    rows = documents(pipeline)
    assert rows["in/crashed.txt"][0] == rows["in/never.txt"][0] == "loaded"
    assert len(rows) == 5

    again = runner.invoke(app, ["reconcile", f"s3://{pipeline.source}/in/", "--older-than", "0"])
    assert again.exit_code == 0, again.output
    assert "pending s3" not in again.output


def test_reconcile_usage_errors_exit_2(pipeline: Pipeline) -> None:
    missing = runner.invoke(app, ["reconcile", "s3://no-such-bucket-zz/"])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    assert runner.invoke(app, ["reconcile", "in/"]).exit_code == 2


def lagging_events(api: str, bucket: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{api}/events/filter",
        json={
            "filter": {
                "event": {"name": [events.INGESTION_LAGGING]},
                "resource": {"id": [f"s3://{bucket}/"]},
            },
            "limit": 10,
        },
        timeout=30,
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def test_the_reconcile_flow_emits_lagging_with_the_counts(
    pipeline: Pipeline, prefect_api: str
) -> None:
    pipeline.upload("a.txt", invoice(1))
    assert processed(pipeline, "a.txt") == "loaded"
    quiet = reconcile(pipeline.source, older_than_seconds=0, return_state=True)
    assert quiet.is_completed()
    assert quiet.result()["pending"] == 0
    pipeline.upload("dropped.txt", invoice(2))

    state = reconcile(older_than_seconds=0, return_state=True)  # the source bucket by default

    assert state.is_completed(), state.message
    assert state.result()["pending"] == 1
    deadline = time.monotonic() + 60
    while not (found := lagging_events(prefect_api, pipeline.source)):
        assert time.monotonic() < deadline, "no docproc.ingestion.lagging event reached the API"
        time.sleep(0.5)
    (event,) = found  # the quiet run emitted none
    assert event["payload"]["pending"] == 1
    assert event["payload"]["processed"] == {"loaded": 1}
    assert event["resource"]["docproc.bucket"] == pipeline.source


def test_backfill_status_rejected_reason_reprocesses_only_those(pipeline: Pipeline) -> None:
    pipeline.upload("in/ok.txt", invoice(1))
    pipeline.upload("in/words.txt", words_wrong(2))
    pipeline.upload("in/words-too.txt", words_wrong(3))
    pipeline.upload("in/date.txt", date_wrong(4))
    first = backfill_prefix(pipeline.source, "in/", return_state=True).result()
    assert isinstance(first, Summary)
    assert dict(first.reasons) == {"words_mismatch": 2, "bad_date": 1}
    before = documents(pipeline)

    result = runner.invoke(
        app,
        [
            "backfill",
            f"s3://{pipeline.source}/in/",
            "--status",
            "rejected",
            "--reason",
            "words_mismatch",
        ],
    )

    assert result.exit_code == 1, result.output  # still rejected: the rule was not changed
    after = documents(pipeline)
    changed = sorted(k for k in after if after[k][1] != before[k][1])
    assert changed == ["in/words-too.txt", "in/words.txt"]
    assert {k: after[k][0] for k in after} == {k: before[k][0] for k in before}


def test_backfill_status_pending_takes_only_what_has_no_row(pipeline: Pipeline) -> None:
    pipeline.upload("in/ok.txt", invoice(1))
    assert processed(pipeline, "in/ok.txt") == "loaded"
    pipeline.upload("in/late.txt", invoice(2))
    before = documents(pipeline)

    state = backfill_prefix(
        pipeline.source, "in/", status="pending", older_than_seconds=0, return_state=True
    )

    summary = state.result()
    assert summary.listed == 1 and dict(summary.statuses) == {"loaded": 1}
    after = documents(pipeline)
    assert after["in/ok.txt"] == before["in/ok.txt"]
    assert after["in/late.txt"][0] == "loaded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "maybe"], "expected one of"),
        (["--reason", "bad_date"], "add --status rejected"),
        (["--status", "pending", "--reason", "bad_date"], "add --status rejected"),
    ],
)
def test_backfill_bad_selection_exits_2(pipeline: Pipeline, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["backfill", f"s3://{pipeline.source}/", *args])
    assert result.exit_code == 2
    assert message in result.output
