"""`python -m docproc validate` on e-invoices: a UBL file and a Factur-X PDF, read and judged
by the same door as the pipeline, with no S3, database or Prefect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docproc.cli import app

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
UBL = DATA / "en16931-ubl" / "ubl-tc434-creditnote1.xml"
PDF = DATA / "factur-x" / "invoice_EN16931.pdf"


@pytest.fixture(autouse=True)
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing to reach: a database URL nobody could connect to, and no S3 endpoint."""
    monkeypatch.setenv("DOCPROC_DATABASE_URL", "mysql+pymysql://nobody@192.0.2.1:1/none")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://192.0.2.1:1")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_a_ubl_credit_note_and_a_factur_x_pdf_are_read_and_valid() -> None:
    result = runner.invoke(app, ["validate", str(UBL), str(PDF), "--json"])
    assert result.exit_code == 0, result.output
    ubl, pdf = json.loads(result.output)
    assert (ubl["format"], ubl["status"], ubl["reasons"]) == ("ubl", "valid", [])
    assert ubl["header"]["invoice_id"] == "018304 / 28865"
    assert ubl["header"]["document_type"] == "credit_note"
    assert (pdf["format"], pdf["status"]) == ("factur-x", "valid")
    header = pdf["header"]
    assert (header["invoice_id"], header["issuer_key"]) == ("F20260023", "FR11123456782")
    assert (header["seller_tax_id"], header["buyer_tax_id"]) == (
        "FR11123456782", "FR 05 987 654 321"
    )  # fmt: skip
    assert (header["net_total"], header["tax_total"], header["payable"]) == (
        "100.00", "4.90", "104.90"
    )  # fmt: skip
    assert [(t["category"], t["rate"], t["amount"]) for t in pdf["taxes"]] == [
        ("S", "20.00", "2.20"), ("E", "0.00", "0.00"), ("S", "10.00", "2.70"), ("K", "0.00", "0.00")
    ]  # fmt: skip
    assert [i["description"] for i in pdf["items"]] == [
        "PRESTATION SUPPORT", "FOURNITURES PAPIER", "APPEL"
    ]  # fmt: skip


def test_the_tables_show_an_einvoice() -> None:
    result = runner.invoke(app, ["validate", str(PDF)])
    assert result.exit_code == 0, result.output
    for value in ("factur-x", "valid", "F20260023", "LE FOURNISSEUR", "104.90", "APPEL"):
        assert value in result.output


def test_a_broken_rule_shows_its_business_rule_and_the_terms_as_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    data = UBL.read_bytes()
    # BT-115 no longer equals BT-112 - BT-113 + BT-114.
    payable = b"<cbc:PayableAmount"
    head, tail = data.split(payable)
    value_end = tail.index(b"<")
    broken.write_bytes(head + payable + tail[: tail.index(b">") + 1] + b"999.99" + tail[value_end:])
    result = runner.invoke(app, ["validate", str(broken), "--json"])
    assert result.exit_code == 1, result.output
    [report] = json.loads(result.output)
    assert (report["format"], report["status"], report["reasons"]) == (
        "ubl", "rejected", ["payable_mismatch"]
    )  # fmt: skip
    assert "[BR-CO-16]" in report["problems"][0]["detail"]
    assert report["header"]["invoice_id"] == "018304 / 28865"
    assert report["header"]["payable"] == "999.99"
    assert report["taxes"] and report["items"]
