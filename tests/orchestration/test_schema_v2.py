"""Schema v2 through both flows: v2 ids, v2 rows and CSV, unreadable e-invoices, one output
builder for the single run and the backfill (moto, MariaDB, a Prefect API)."""

from __future__ import annotations

import csv
import io
import json
from importlib.resources import files
from typing import Any

import pytest
from sqlalchemy import select

from docproc import schema
from docproc.models import Outcome
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from flows.process_invoice import process_invoice
from tests.support.pipeline import Pipeline

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
SLASHED = SAMPLE.replace(b"inv-00001", b"INV/18-19/0001").replace(b"sm-LK0080145", b"SM #7")
UBL = (
    b'\xef\xbb\xbf<?xml version="1.0"?>'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
READ_AS = [
    ("in/einvoice.txt", "ubl", "missing_field"),
    ("in/scan.pdf", "unknown", "malformed_document"),
]

pytestmark = pytest.mark.usefixtures("prefect_api")


def run(pipeline: Pipeline, key: str) -> Outcome:
    state = process_invoice(pipeline.source, key, return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, Outcome), outcome
    return outcome


def documents(pipeline: Pipeline) -> dict[str, Any]:
    with pipeline.engine.connect() as conn:
        return {r.object_key: r for r in conn.execute(select(schema.documents))}


def check_outputs(pipeline: Pipeline) -> None:
    """What both flows must leave for the slashed invoice and the XML and PDF documents."""
    csv_key = "SM%20%237/INV%2F18-19%2F0001.csv"
    assert pipeline.target_keys() == sorted(
        [csv_key, "rejected/in/einvoice.txt.json", "rejected/in/scan.pdf.json"]
    )
    table = list(csv.reader(io.StringIO(pipeline.read_target(csv_key).decode(), newline="")))
    header = dict(zip(table[0], table[1], strict=True))
    assert (header["customer_id"], header["invoice_id"]) == ("SM #7", "INV/18-19/0001")
    assert (header["issuer_key"], header["format"], header["payable"]) == (
        "SM #7", "text-v1", "8150.00"
    )  # fmt: skip
    # The bytes decide: an empty UBL Invoice is read as UBL and misses its terms; a PDF
    # cut after its header cannot be read.
    for name, fmt, reason in READ_AS:
        report = json.loads(pipeline.read_target(f"rejected/{name}.json"))
        assert (report["format"], report["reasons"]) == (fmt, [reason])

    with pipeline.engine.connect() as conn:
        invoice = conn.execute(select(schema.invoices)).one()
    assert (invoice.issuer_key, invoice.invoice_id, invoice.customer_id) == (
        "SM #7", "INV/18-19/0001", "SM #7"
    )  # fmt: skip
    assert (invoice.format, invoice.document_type, str(invoice.payable)) == (
        "text-v1", "invoice", "8150.00"
    )  # fmt: skip
    docs = documents(pipeline)
    assert (docs["in/slashed.txt"].status, docs["in/slashed.txt"].format) == ("loaded", "text-v1")
    assert docs["in/slashed.txt"].issuer_key == "SM #7"
    for name, fmt, reason in READ_AS:
        assert (docs[name].status, docs[name].format, docs[name].reasons) == (
            "rejected", fmt, reason
        )  # fmt: skip


def upload_all(pipeline: Pipeline) -> None:
    pipeline.upload("in/slashed.txt", SLASHED)
    pipeline.upload("in/einvoice.txt", UBL)  # the name says text, the bytes say XML
    pipeline.upload("in/scan.pdf", PDF)


def test_process_invoice_writes_v2_rows_and_outputs(pipeline: Pipeline) -> None:
    upload_all(pipeline)
    outcomes = {
        key: run(pipeline, key) for key in ("in/slashed.txt", "in/einvoice.txt", "in/scan.pdf")
    }
    assert {k: o.status for k, o in outcomes.items()} == {
        "in/slashed.txt": "loaded", "in/einvoice.txt": "rejected", "in/scan.pdf": "rejected"
    }  # fmt: skip
    check_outputs(pipeline)


def test_backfill_writes_the_same_rows_and_outputs(pipeline: Pipeline) -> None:
    upload_all(pipeline)
    state = backfill_prefix(pipeline.source, "in/", return_state=True)
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, Summary), summary
    assert (summary.statuses["loaded"], summary.statuses["rejected"]) == (1, 2)
    assert summary.reasons == {"missing_field": 1, "malformed_document": 1}
    check_outputs(pipeline)
