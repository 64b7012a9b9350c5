"""SPEC section 10 through `process-invoice` and `backfill-prefix`: moto, MariaDB, Prefect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import select

from docproc import schema
from docproc.models import Outcome
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from flows.process_invoice import process_invoice
from tests.support.orchestration import CHANGED, SAMPLE
from tests.support.pipeline import Pipeline

CHANGED_VALUES = [
    {"field": "amount", "old": "7650.00", "new": "7750.00"},
    {"field": "total", "old": "8150.00", "new": "8250.00"},
    {
        "field": "total_in_words",
        "old": "Space Rupees Eight thousand one hundred fifty only",
        "new": "Space Rupees Eight thousand two hundred fifty only",
    },
    {"field": "net_total", "old": "7650.00", "new": "7750.00"},
    {"field": "payable", "old": "8150.00", "new": "8250.00"},
    {"field": "item 5 amount", "old": "850.00", "new": "950.00"},
]
CSV = "sm-LK0080145/inv-00001.csv"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("prefect_api")


def run(pipeline: Pipeline, key: str, **params: Any) -> tuple[Any, Outcome]:
    state = process_invoice(pipeline.source, key, return_state=True, **params)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, Outcome), outcome
    return state, outcome


def invoice_rows(pipeline: Pipeline) -> list[tuple[object, ...]]:
    with pipeline.engine.connect() as conn:
        inv = conn.execute(select(schema.invoices.c.total, schema.invoices.c.source_key)).all()
        items = conn.execute(
            select(schema.invoice_items.c.line_no, schema.invoice_items.c.amount).order_by(
                schema.invoice_items.c.line_no
            )
        ).all()
    return [*inv, *items]


def documents(pipeline: Pipeline) -> dict[str, Any]:
    with pipeline.engine.connect() as conn:
        rows = conn.execute(select(schema.documents)).all()
    return {r.object_key: r for r in rows}


def events_seen(
    api_url: str, name: str, resource_id: str, bucket: str, timeout: float = 30
) -> list[Any]:
    """The events of this name and resource about a document of this test's bucket that the
    Prefect server has stored (they arrive late: `emit_event` is fire-and-forget)."""
    body = {
        "filter": {
            "event": {"name": [name]},
            "resource": {"id": [resource_id]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(f"{api_url}/events/filter", json=body, timeout=10).json()["events"]
        found = [e for e in answer if e["payload"]["document"]["bucket"] == bucket]
        if found or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.5)


def test_the_same_file_under_two_keys_is_a_duplicate(pipeline: Pipeline) -> None:
    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("again/a copy.txt", SAMPLE)
    run(pipeline, "in/a.txt")
    csv_before = pipeline.read_target(CSV)
    before = invoice_rows(pipeline)

    state, outcome = run(pipeline, "again/a copy.txt")
    assert state.is_completed()
    assert outcome.status == "duplicate"
    assert outcome.message == f"duplicate of s3://{pipeline.source}/in/a.txt"
    docs = documents(pipeline)
    assert docs["again/a copy.txt"].status == "duplicate"
    assert docs["again/a copy.txt"].duplicate_of == docs["in/a.txt"].id
    assert invoice_rows(pipeline) == before
    assert pipeline.target_keys() == [CSV]
    assert pipeline.read_target(CSV) == csv_before


def test_a_changed_invoice_is_held_listed_and_announced(
    pipeline: Pipeline, prefect_api: str
) -> None:
    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("in/b.txt", CHANGED)
    run(pipeline, "in/a.txt")
    before, csv_before = invoice_rows(pipeline), pipeline.read_target(CSV)

    state, outcome = run(pipeline, "in/b.txt")
    assert state.is_failed()
    assert outcome.status == "rejected" and outcome.reasons == ("conflicting_duplicate",)
    assert invoice_rows(pipeline) == before
    assert pipeline.read_target(CSV) == csv_before
    docs = documents(pipeline)
    assert (docs["in/b.txt"].status, docs["in/b.txt"].reasons) == (
        "rejected",
        "conflicting_duplicate",
    )
    assert docs["in/b.txt"].duplicate_of == docs["in/a.txt"].id
    report = json.loads(pipeline.read_target("rejected/in/b.txt.json"))
    assert report["reasons"] == ["conflicting_duplicate"]
    assert report["duplicate_of"] == f"s3://{pipeline.source}/in/a.txt"
    assert report["differences"] == CHANGED_VALUES
    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts()
    [artifact] = [a for a in artifacts if a.key == f"rejection-{pipeline.source}-in-b-txt"]
    assert "| item 5 amount | 850.00 | 950.00 |" in str(artifact.data)

    [event] = events_seen(
        prefect_api,
        "docproc.invoice.conflict",
        "docproc.invoice/sm-LK0080145/inv-00001",
        pipeline.source,
    )
    assert event["payload"]["loaded"]["uri"] == f"s3://{pipeline.source}/in/a.txt"
    assert event["payload"]["document"]["key"] == "in/b.txt"
    assert event["payload"]["differences"] == CHANGED_VALUES


def test_replace_by_flag_and_by_policy(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import resources

    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("in/b.txt", CHANGED)
    run(pipeline, "in/a.txt")
    _, held = run(pipeline, "in/b.txt")
    assert held.reasons == ("conflicting_duplicate",)

    # --replace reprocesses the held version, as --force would, and accepts it.
    state, replaced = run(pipeline, "in/b.txt", replace=True)
    assert state.is_completed() and replaced.status == "loaded"
    assert invoice_rows(pipeline)[0] == (8250, "in/b.txt")
    assert b"Transporter base dial,950.00" in pipeline.read_target(CSV)
    assert documents(pipeline)["in/b.txt"].status == "loaded"

    # The policy in the environment: the original, sent again, takes its place back.
    monkeypatch.setenv("DOCPROC_DUPLICATE_POLICY", "replace")
    resources.reset()
    _, back = run(pipeline, "in/a.txt", force=True)
    assert back.status == "loaded"
    assert invoice_rows(pipeline)[0] == (8150, "in/a.txt")


def test_another_number_with_the_same_total_is_flagged(
    pipeline: Pipeline, prefect_api: str
) -> None:
    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("in/b.txt", SAMPLE.replace(b"inv-00001", b"inv-00002"))
    run(pipeline, "in/a.txt")
    state, outcome = run(pipeline, "in/b.txt")
    assert state.is_completed() and outcome.status == "loaded"
    assert outcome.reasons == ("possible_duplicate",)
    assert "possible_duplicate" in outcome.message
    docs = documents(pipeline)
    assert (docs["in/b.txt"].flags, docs["in/b.txt"].duplicate_of) == (
        "possible_duplicate",
        docs["in/a.txt"].id,
    )
    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts()
    [artifact] = [
        a
        for a in artifacts
        if a.key == "invoice-sm-lk0080145-inv-00002" and pipeline.source in str(a.data)
    ]
    assert "possible_duplicate" in str(artifact.data)
    [event] = events_seen(
        prefect_api,
        "docproc.invoice.suspect",
        "docproc.invoice/sm-LK0080145/inv-00002",
        pipeline.source,
    )
    assert event["payload"]["resembles"]["invoice_id"] == "inv-00001"


def test_two_runs_racing_with_the_halves_of_a_conflict_load_exactly_one(
    pipeline: Pipeline,
) -> None:
    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("in/b.txt", CHANGED)
    runs = {
        key: subprocess.Popen(
            [sys.executable, "-m", "docproc", "process", f"s3://{pipeline.source}/{key}"],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key in ("in/a.txt", "in/b.txt")
    }
    codes = {key: proc.wait(300) for key, proc in runs.items()}
    assert sorted(codes.values()) == [0, 1], {
        k: p.stdout.read() for k, p in runs.items() if p.stdout
    }
    winner = next(key for key, code in codes.items() if code == 0)
    loser = next(key for key, code in codes.items() if code == 1)
    docs = documents(pipeline)
    assert (docs[winner].status, docs[loser].status) == ("loaded", "rejected")
    assert docs[loser].reasons == "conflicting_duplicate"
    assert invoice_rows(pipeline)[0][1] == winner
    total = b"8150.00" if winner == "in/a.txt" else b"8250.00"
    assert total in pipeline.read_target(CSV)
    report = json.loads(pipeline.read_target(f"rejected/{loser}.json"))
    assert report["duplicate_of"] == f"s3://{pipeline.source}/{winner}"


@pytest.mark.parametrize("batch_size", [10, 1], ids=["one batch", "two batches"])
def test_a_backfill_judges_in_key_order(pipeline: Pipeline, batch_size: int) -> None:
    pipeline.upload("in/1 original.txt", SAMPLE)
    pipeline.upload("in/2 changed.txt", CHANGED)
    pipeline.upload("in/3 copy.txt", SAMPLE)
    pipeline.upload("in/4 other number.txt", SAMPLE.replace(b"inv-00001", b"inv-00002"))
    state = backfill_prefix(pipeline.source, "in/", batch_size=batch_size, return_state=True)
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, Summary)
    assert dict(summary.statuses) == {"loaded": 2, "rejected": 1, "duplicate": 1}
    assert (summary.duplicates, summary.conflicts, summary.suspects) == (1, 1, 1)
    assert "conflicts held: 1" in summary.markdown("x")
    docs = documents(pipeline)
    assert docs["in/2 changed.txt"].duplicate_of == docs["in/1 original.txt"].id
    assert docs["in/3 copy.txt"].status == "duplicate"
    assert docs["in/4 other number.txt"].flags == "possible_duplicate"
    assert invoice_rows(pipeline)[0] == (8150, "in/1 original.txt")
    report = json.loads(pipeline.read_target("rejected/in/2 changed.txt.json"))
    assert report["differences"] == CHANGED_VALUES


def test_the_command_line_holds_then_replaces(pipeline: Pipeline) -> None:
    from typer.testing import CliRunner

    from docproc.cli import app

    pipeline.upload("in/a.txt", SAMPLE)
    pipeline.upload("in/b.txt", CHANGED)
    pipeline.upload("in/c.txt", SAMPLE)
    runner = CliRunner()
    assert runner.invoke(app, ["process", f"s3://{pipeline.source}/in/a.txt"]).exit_code == 0
    copy = runner.invoke(app, ["process", f"s3://{pipeline.source}/in/c.txt"])
    assert copy.exit_code == 0, copy.output
    assert "duplicate of" in copy.output
    held = runner.invoke(app, ["process", f"s3://{pipeline.source}/in/b.txt"])
    assert held.exit_code == 1 and "conflicting_duplicate" in held.output
    accepted = runner.invoke(app, ["process", "--replace", f"s3://{pipeline.source}/in/b.txt"])
    assert accepted.exit_code == 0, accepted.output
    assert invoice_rows(pipeline)[0] == (8250, "in/b.txt")
    helped = runner.invoke(app, ["validate", "--help"])
    assert "no database" in helped.output


EINVOICES = REPO / "tests" / "data" / "einvoices" / "factur-x"


def test_the_same_invoice_as_a_factur_x_pdf_and_as_cii_xml_is_a_duplicate(
    pipeline: Pipeline,
) -> None:
    """Format and profile are not business values. (The test data holds no UBL twin of
    this PDF; its CII XML, the same invoice in another syntax, stands for one.)"""
    pipeline.upload("in/invoice.pdf", (EINVOICES / "invoice_EN16931.pdf").read_bytes())
    pipeline.upload("in/invoice.xml", (EINVOICES / "factur-x-en16931.xml").read_bytes())
    _, first = run(pipeline, "in/invoice.pdf")
    assert first.status == "loaded", first.message
    csv_key = pipeline.target_keys()
    state, second = run(pipeline, "in/invoice.xml")
    assert state.is_completed() and second.status == "duplicate", second.message
    docs = documents(pipeline)
    assert (docs["in/invoice.pdf"].format, docs["in/invoice.xml"].format) == ("factur-x", "cii")
    assert docs["in/invoice.xml"].duplicate_of == docs["in/invoice.pdf"].id
    assert pipeline.target_keys() == csv_key
    with pipeline.engine.connect() as conn:
        assert conn.execute(select(schema.invoices.c.format)).scalars().all() == ["factur-x"]
