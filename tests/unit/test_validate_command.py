"""`python -m docproc validate FILE...`: the core on local files, no S3, database or Prefect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc.cli import app

runner = CliRunner()
Variant = Callable[..., bytes]
SAMPLE = Path(__file__).resolve().parents[2] / "docproc" / "samples" / "docproc-invoice.txt"


@pytest.fixture(autouse=True)
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing to reach: a database URL nobody could connect to, and no S3 endpoint."""
    monkeypatch.setenv("DOCPROC_DATABASE_URL", "mysql+pymysql://nobody@192.0.2.1:1/none")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://192.0.2.1:1")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_the_sample_is_valid_and_shows_what_it_would_load() -> None:
    result = runner.invoke(app, ["validate", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "text-v1" in result.output
    assert "valid" in result.output
    for value in ("sm-LK0080145", "inv-00001", "2018-03-31", "8150.00", "Transporter base dial"):
        assert value in result.output
    assert "SGST" in result.output


def test_json_for_scripts(tmp_path: Path, variant: Variant) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(variant(("Total: 8150", "Total: 9000"), ("Mar 31 2018", "Feb 30 2018")))
    result = runner.invoke(app, ["validate", str(SAMPLE), str(bad), "--json"])
    assert result.exit_code == 1
    good, rejected = json.loads(result.output)
    assert (good["status"], good["format"], good["reasons"]) == ("valid", "text-v1", [])
    assert good["header"]["issuer_key"] == "sm-LK0080145"
    assert good["header"]["payable"] == "8150.00"
    assert [i["amount"] for i in good["items"]] == [
        "2000.00",
        "3100.00",
        "500.00",
        "1200.00",
        "850.00",
    ]
    assert good["taxes"] == [
        {"kind": "SGST", "amount": "500.00", "category": None, "rate": None, "taxable_amount": None}
    ]
    assert rejected["status"] == "rejected"
    assert rejected["reasons"] == ["bad_date", "total_mismatch", "words_mismatch"]
    assert rejected["header"]["total"] == "9000"  # as read: what there is to fix
    assert all(p["detail"] for p in rejected["problems"])


def test_a_rejected_document_lists_every_reason(tmp_path: Path, variant: Variant) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(variant(("Total: 8150", "Total: 9000"), ("inv-00001", "inv–1")))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "rejected" in result.output
    for code in ("bad_id", "total_mismatch", "words_mismatch"):
        assert code in result.output


def test_xml_of_another_vocabulary_is_unsupported(tmp_path: Path) -> None:
    xml = tmp_path / "invoice.txt"  # the name says text; the bytes say XML
    xml.write_bytes(b'\xef\xbb\xbf<?xml version="1.0"?><Invoice/>')
    result = runner.invoke(app, ["validate", str(xml), "--json"])
    assert result.exit_code == 1
    [report] = json.loads(result.output)
    assert report["reasons"] == ["unsupported_format"]
    assert "not_text" not in result.output


def test_a_missing_path_is_a_usage_error_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = subprocess.run(
        [sys.executable, "-m", "docproc", "validate", str(SAMPLE), str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # nothing half-reported
    assert result.stderr.strip().count("\n") == 0
    assert "no such file" in result.stderr and "nope.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
