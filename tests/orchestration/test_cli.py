"""`python -m docproc`: what a user types and what they see, exit codes included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from docproc.cli import app
from tests.support.pipeline import Pipeline, clear_tables

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def docproc(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "docproc", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["process"],
        ["init-db"],
        ["serve"],
        ["webhook"],
        ["provision"],
        ["demo"],
        ["reconcile"],
        ["deprovision"],
        ["backfill"],
    ],
)
def test_help_needs_no_environment(command: list[str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOCPROC_", "AWS_"))}
    result = docproc(*command, "--help", env=clean, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m docproc" in result.stdout


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("docs/a.txt", "not an S3 URI"),
        ("s3://", "no bucket"),
        ("s3://{source}", "no object key"),
        ("s3://no-such-bucket-zz/a.txt", "bucket s3://no-such-bucket-zz does not exist"),
        ("s3://{source}/missing.txt", "s3://{source}/missing.txt does not exist"),
    ],
)
def test_process_usage_errors_exit_2_with_one_line(
    pipeline: Pipeline, uri: str, message: str
) -> None:
    result = runner.invoke(app, ["process", uri.format(source=pipeline.source)])
    assert result.exit_code == 2
    assert message.format(source=pipeline.source) in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.usefixtures("prefect_api")
def test_process_prints_the_outcome_and_exits_0_or_1(pipeline: Pipeline) -> None:
    pipeline.upload("in/good.txt", SAMPLE)
    pipeline.upload("in/bad.txt", SAMPLE.replace(b"Total: 8150", b"Total: 9150"))

    good = runner.invoke(app, ["process", f"s3://{pipeline.source}/in/good.txt"])
    assert good.exit_code == 0, good.output
    assert f"loaded s3://{pipeline.source}/in/good.txt" in good.output
    assert f"output: s3://{pipeline.target}/sm-LK0080145/inv-00001.csv" in good.output

    bad = runner.invoke(app, ["process", f"s3://{pipeline.source}/in/bad.txt"])
    assert bad.exit_code == 1
    assert "rejected" in bad.output and "total_mismatch" in bad.output

    again = runner.invoke(app, ["process", f"s3://{pipeline.source}/in/good.txt"])
    assert again.exit_code == 0
    assert "skipped" in again.output


def test_process_on_the_temporary_api_shows_no_traceback(pipeline: Pipeline) -> None:
    """Without PREFECT_API_URL, Prefect starts a temporary server; its teardown stays quiet."""
    pipeline.upload("in/good.txt", SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = docproc("process", f"s3://{pipeline.source}/in/good.txt", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "Error" not in result.stderr


def test_a_temporary_api_that_does_not_start_is_one_line(pipeline: Pipeline) -> None:
    """No time at all to start it: the error says what to set, without a traceback."""
    pipeline.upload("in/good.txt", SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "0"
    result = docproc("process", f"s3://{pipeline.source}/in/good.txt", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Set PREFECT_API_URL" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_init_db_is_idempotent_and_refuses_a_bad_url(mysql_url: str) -> None:
    env = dict(os.environ, DOCPROC_DATABASE_URL=mysql_url)
    for _ in range(2):
        result = docproc("init-db", env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        tables = (
            "invoices, invoice_items, invoice_taxes, documents, document_findings, document_reviews"
        )
        assert f"tables {tables} ready" in result.stdout
    bad = docproc("init-db", env=dict(os.environ, DOCPROC_DATABASE_URL="nonsense"), timeout=60)
    assert bad.returncode == 2
    assert "DOCPROC_DATABASE_URL is not a SQLAlchemy URL" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_demo_runs_the_whole_chain(
    mysql_url: str, mysql_engine: Engine, moto_endpoint: str
) -> None:
    clear_tables(mysql_engine)  # the VAT report sums every loaded invoice: the demo's alone
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["DOCPROC_DATABASE_URL"] = mysql_url
    result = docproc("demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded in" in result.stdout
    assert "sm-LK0080145,inv-00001,2018-03-31,Space Mechanics Inc." in result.stdout
    # ... and the UBL credit note, the Factur-X PDF and the plain PDF (read by its
    # template, pdftotext being installed by `make install`), each at its CSV key.
    assert "(4 invoices)" in result.stdout
    assert "BE0000000196/018304%20%2F%2028865.csv" in result.stdout
    assert "FR11123456782/F20260023.csv" in result.stdout
    assert "DE123456789/ACME-2024-0042.csv" in result.stdout and "pdf-text" in result.stdout
    assert "factur-x" in result.stdout and "credit_note" in result.stdout
    # A corrected copy of the text invoice is held, asked and answered `keep`.
    assert "held conflicting_duplicate: a person answers at http://" in result.stdout
    assert "decided keep by make demo" in result.stdout
    # The VAT report: the Factur-X invoice's 20 % line (11.00 taxable, 2.20 VAT).
    report = result.stdout.split("The input VAT of what is loaded")[1]
    assert re.search(r"│ 2026-01 *│ EUR *│ S *│ *20 │ *11\.00 │ *2\.20 │", report), report
    assert "Traceback" not in result.stdout + result.stderr


def test_commands_run_their_flows_without_heartbeats_unless_asked() -> None:
    """Prefect joins the heartbeat thread at a run's end, up to a second later."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    from docproc.cli.common import in_process_run

    assert get_current_settings().flows.heartbeat_frequency is not None  # Prefect's default
    with in_process_run():
        assert get_current_settings().flows.heartbeat_frequency is None
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}), in_process_run():
        assert get_current_settings().flows.heartbeat_frequency == 60
