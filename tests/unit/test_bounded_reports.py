"""A rejection stays small whatever the document (SPEC section 3: at most 20 details per
reason code): a report of kilobytes for 100,000 broken lines, not megabytes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc import export, formats, rules
from docproc.cli import app
from docproc.models import ObjectRef, Reason, Rejection
from docproc.rules.problems import ProblemLog

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
LINES = 100_000


@pytest.fixture(scope="module")
def broken_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real UBL invoice with 100,000 empty lines added: each breaks two rules."""
    data = (DATA / "en16931-ubl" / "ubl-tc434-example2.xml").read_bytes()
    first = data.index(b"<cac:InvoiceLine>")
    data = data[:first] + b"<cac:InvoiceLine></cac:InvoiceLine>" * LINES + data[first:]
    path = tmp_path_factory.mktemp("big") / "broken-lines.xml"
    path.write_bytes(data)
    return path


def test_the_problem_log_keeps_20_per_reason_and_counts_the_rest() -> None:
    log = ProblemLog()
    for n in range(1000):
        log.add(Reason.BAD_NUMBER, f"number {n}")
    log.add(Reason.BAD_DATE, "a date")
    problems = log.result()
    assert [p.detail for p in problems[:20]] == [f"number {n}" for n in range(20)]
    assert problems[20:] == (
        problems[20].__class__(Reason.BAD_DATE, "a date"),
        problems[20].__class__(
            Reason.BAD_NUMBER, "... and 980 more bad_number problems like these"
        ),
    )


def test_a_rejection_of_100000_broken_lines_is_a_few_kilobytes(broken_lines: Path) -> None:
    rejection = rules.judge(formats.read(broken_lines.read_bytes()))
    assert isinstance(rejection, Rejection)
    # Lines without amounts leave the sums unknown: the sum rules are skipped.
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert len(rejection.problems) == 21
    assert rejection.details[-1] == (
        f"... and {2 * LINES - 20} more missing_field problems like these"
    )
    ref = ObjectRef("source", "big.xml", "e")
    report = export.rejection_report(ref, rejection, None, datetime(2026, 12, 6))
    assert len(report) < 8 * 1024, len(report)
    artifact = export.rejection_markdown(ref, rejection, "s3://target/rejected/big.xml.json")
    assert len(artifact) < 8 * 1024, len(artifact)


def test_validate_json_of_100000_broken_lines_is_small(broken_lines: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--json", str(broken_lines)])
    assert result.exit_code == 1, result.output[-2000:]
    assert len(result.output) < 200 * 1024, len(result.output)
    (report,) = json.loads(result.output)
    assert report["item_count"] == LINES + 5  # the 5 real lines
    assert len(report["items"]) == 50
    assert len(report["problems"]) <= 21 * len(report["reasons"])


def test_validate_table_says_how_many_rows_it_left_out(broken_lines: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(broken_lines)])
    assert result.exit_code == 1
    assert "first 50 of" in result.output and f"{LINES + 5}" in result.output
    assert len(result.output) < 200 * 1024
