"""E-invoices through the whole chain on real parts (moto over HTTP, MariaDB, a Prefect API):
a UBL credit note, a CII invoice and a Factur-X PDF become rows, a CSV at its
percent-encoded key and an artifact; one with a broken business rule is rejected with
its code and report. Through `process-invoice` and through `backfill-prefix` alike."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import FlowRun
from sqlalchemy import select

from docproc import schema
from docproc.models import Outcome
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from flows.naming import artifact_key
from flows.process_invoice import process_invoice
from tests.support.pipeline import Pipeline

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
UBL = (DATA / "en16931-ubl" / "ubl-tc434-creditnote1.xml").read_bytes()
CII = (DATA / "en16931-cii" / "huf_example_cii.xml").read_bytes()
PDF = (DATA / "factur-x" / "invoice_EN16931.pdf").read_bytes()
# The same credit note with BT-115 changed: BR-CO-16 (amount due) no longer holds.
BROKEN = UBL.replace(
    b'<cbc:PayableAmount currencyID="EUR">100.11</cbc:PayableAmount>',
    b'<cbc:PayableAmount currencyID="EUR">90.11</cbc:PayableAmount>',
)
KEYS = ("in/credit-note.xml", "in/huf.xml", "in/factur-x.pdf", "in/broken.xml")

# What each accepted document must leave: its invoices row, the counts of its items and
# VAT rows, and its CSV key (ids with `/` and spaces percent-encoded, one segment each).
EXPECTED: dict[str, dict[str, Any]] = {
    "in/credit-note.xml": {
        "row": ("BE0000000196", "018304 / 28865", "ubl", "credit_note", "My Supplier Company",
                "BE0000000196", "My Customer Company", "BE0000000295", "EUR", "100.11",
                "100.11", "0.00", "100.11", "100.11"),
        "items": 1, "taxes": [("VAT", "E", "0.00", "100.11", "0.00")],
        "csv": "BE0000000196/018304%20%2F%2028865.csv",
    },
    "in/huf.xml": {
        "row": ("HU30048650", "21/001003559/996", "cii", "invoice",
                "DKV Euro Service GmbH + Co. KG", "HU30048650",
                "HIL Heeresinstandsetzungslogistik GmbH", "DE242688168", "HUF",
                "69180.00", "69180.00", "18679.00", "87859.00", "87859.00"),
        "items": 3, "taxes": [("VAT", "S", "27.00", "69180.00", "18679.00")],
        "csv": "HU30048650/21%2F001003559%2F996.csv",
    },
    "in/factur-x.pdf": {
        "row": ("FR11123456782", "F20260023", "factur-x", "invoice", "LE FOURNISSEUR",
                "FR11123456782", "LE CLIENT", "FR 05 987 654 321", "EUR", "95.00", "100.00",
                "4.90", "104.90", "104.90"),
        "items": 3,
        "taxes": [("VAT", "S", "20.00", "11.00", "2.20"), ("VAT", "E", "0.00", "60.00", "0.00"),
                  ("VAT", "S", "10.00", "27.00", "2.70"), ("VAT", "K", "0.00", "2.00", "0.00")],
        "csv": "FR11123456782/F20260023.csv",
    },
}  # fmt: skip
REPORT = "rejected/in/broken.xml.json"

pytestmark = pytest.mark.usefixtures("prefect_api")


def upload_all(pipeline: Pipeline) -> dict[str, str]:
    bodies = dict(zip(KEYS, (UBL, CII, PDF, BROKEN), strict=True))
    return {key: pipeline.upload(key, body) for key, body in bodies.items()}


def check_rows_and_outputs(pipeline: Pipeline, etags: dict[str, str]) -> None:
    """What both flows must leave: the rows with the files' values, the CSVs, the report."""
    assert pipeline.target_keys() == sorted([*(e["csv"] for e in EXPECTED.values()), REPORT])
    with pipeline.engine.connect() as conn:
        invoices = {r.source_key: r for r in conn.execute(select(schema.invoices))}
        items = conn.execute(select(schema.invoice_items)).all()
        taxes = conn.execute(select(schema.invoice_taxes)).all()
        documents = {r.object_key: r for r in conn.execute(select(schema.documents))}
    assert sorted(invoices) == sorted(EXPECTED)
    for key, expected in EXPECTED.items():
        row = invoices[key]
        values = (row.issuer_key, row.invoice_id, row.format, row.document_type, row.seller,
                  row.seller_tax_id, row.buyer, row.buyer_tax_id, row.currency)  # fmt: skip
        money = tuple(str(v) for v in (row.amount, row.net_total, row.tax_total, row.total,
                                       row.payable))  # fmt: skip
        assert values + money == expected["row"], key
        assert row.source_etag == etags[key]
        ids = (row.issuer_key, row.invoice_id)
        assert sum((i.issuer_key, i.invoice_id) == ids for i in items) == expected["items"], key
        assert sorted(
            (t.kind, t.category, t.rate, t.taxable_amount, t.amount)
            for t in taxes
            if (t.issuer_key, t.invoice_id) == ids
        ) == sorted((k, c, *map(Decimal, n)) for k, c, *n in expected["taxes"]), key
        doc = documents[key]
        assert (doc.status, doc.format, doc.issuer_key, doc.invoice_id) == (
            "loaded", expected["row"][2], expected["row"][0], expected["row"][1]
        )  # fmt: skip

        table = list(csv.reader(io.StringIO(pipeline.read_target(expected["csv"]).decode())))
        assert len(table) == 1 + expected["items"]
        first = dict(zip(table[0], table[1], strict=True))
        assert (first["issuer_key"], first["invoice_id"], first["format"]) == expected["row"][:3]
        assert first["payable"] == expected["row"][-1]

    broken = documents["in/broken.xml"]
    assert (broken.status, broken.format, broken.reasons) == ("rejected", "ubl", "payable_mismatch")
    assert (broken.issuer_key, broken.invoice_id) == ("BE0000000196", "018304 / 28865")
    report = json.loads(pipeline.read_target(REPORT))
    assert (report["format"], report["reasons"]) == ("ubl", ["payable_mismatch"])
    assert report["details"][0].startswith("[BR-CO-16]")


def invoice_column(pipeline: Pipeline, key: str, column: str) -> Any:
    with pipeline.engine.connect() as conn:
        table = schema.invoices
        return conn.execute(select(table.c[column]).where(table.c.source_key == key)).scalar_one()


def artifact_markdown(key: str) -> str:
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
    assert isinstance(artifact.data, str)
    return artifact.data


def run(pipeline: Pipeline, key: str) -> tuple[Any, Outcome, FlowRun]:
    state = process_invoice(pipeline.source, key, return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, Outcome), outcome
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    return state, outcome, flow_run


def test_process_invoice_loads_ubl_cii_and_factur_x_and_rejects_a_broken_rule(
    pipeline: Pipeline,
) -> None:
    etags = upload_all(pipeline)
    runs = {key: run(pipeline, key) for key in KEYS}

    for key, expected in EXPECTED.items():
        state, outcome, flow_run = runs[key]
        assert state.is_completed(), (key, state.message)
        assert flow_run.state_name == "Completed"
        assert outcome.status == "loaded"
        assert outcome.output == f"s3://{pipeline.target}/{expected['csv']}"
        # Run names as for text-v1: the invoice id as written, `/` and all.
        assert flow_run.name == f"{expected['row'][1]} from s3://{pipeline.source}/{key}"

    state, outcome, flow_run = runs["in/broken.xml"]
    assert state.is_failed()
    assert flow_run.state_name == "Failed"
    assert "payable_mismatch" in (state.message or "")
    assert (outcome.status, outcome.reasons) == ("rejected", ("payable_mismatch",))
    assert outcome.output == f"s3://{pipeline.target}/{REPORT}"
    assert flow_run.name == f"018304 / 28865 from s3://{pipeline.source}/in/broken.xml"
    check_rows_and_outputs(pipeline, etags)

    # The artifact: seller and buyer with their VAT ids, the totals down to the amount due,
    # and the VAT breakdown by category and rate.
    markdown = artifact_markdown(artifact_key("invoice", "FR11123456782", "F20260023"))
    for line in (
        "| seller | LE FOURNISSEUR (VAT id FR11123456782) |",
        "| buyer | LE CLIENT (VAT id FR 05 987 654 321) |",
        "| lines (BT-106) | 95.00 EUR |",
        "| − allowances (BT-107) | 9.00 |",
        "| + charges (BT-108) | 14.00 |",
        "| = net (BT-109) | 100.00 |",
        "| + VAT (BT-110) | 4.90 |",
        "| = total (BT-112) | **104.90** |",
        "| − prepaid (BT-113) | 0.00 |",
        "| + rounding (BT-114) | 0.00 |",
        "| = payable (BT-115) | **104.90** EUR |",
        "| VAT | S | 20.00 | 11.00 | 2.20 |",
        "| VAT | E | 0.00 | 60.00 | 0.00 |",
        "| VAT | S | 10.00 | 27.00 | 2.70 |",
        "| VAT | K | 0.00 | 2.00 | 0.00 |",
    ):
        assert line in markdown.splitlines(), line
    rejection = artifact_markdown(artifact_key("rejection", pipeline.source, "in/broken.xml"))
    assert "payable_mismatch" in rejection and "[BR-CO-16]" in rejection
    assert "invoice `018304 / 28865` from issuer `BE0000000196`" in rejection
    assert invoice_column(pipeline, "in/credit-note.xml", "type_code") == "381"


def test_backfill_loads_and_rejects_the_same(pipeline: Pipeline) -> None:
    etags = upload_all(pipeline)
    state = backfill_prefix(pipeline.source, "in/", return_state=True)
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, Summary), summary
    assert state.is_completed()
    assert (summary.statuses["loaded"], summary.statuses["rejected"]) == (3, 1)
    assert summary.reasons == {"payable_mismatch": 1}
    check_rows_and_outputs(pipeline, etags)


# The first UBL sample with its item classification outside UNTDID 7143: docproc's own
# rules accept it, the official BR-CL-13 does not (SPEC 3.1).
NONCONFORMANT = (
    (DATA / "en16931-ubl" / "ubl-tc434-example2.xml")
    .read_bytes()
    .replace(
        b'<cbc:ItemClassificationCode listID="STI">65434568',
        b'<cbc:ItemClassificationCode listID="XX">65434568',
    )
)


def test_a_nonconformant_invoice_is_loaded_flagged_with_its_findings_stored(
    pipeline: Pipeline,
) -> None:
    pipeline.upload("in/br-cl-13.xml", NONCONFORMANT)
    state = process_invoice(pipeline.source, "in/br-cl-13.xml", return_state=True)
    outcome = state.result()
    assert state.is_completed(), state.message
    assert outcome.reasons == ("nonconformant",)
    with pipeline.engine.connect() as conn:
        doc = conn.execute(select(schema.documents)).one()
        found = conn.execute(
            select(schema.document_findings.c.rule, schema.document_findings.c.flag).where(
                schema.document_findings.c.document_id == doc.id
            )
        ).all()
    assert (doc.status, doc.flags) == ("loaded", "nonconformant")
    assert ("BR-CL-13", "fatal") in found


def test_enforce_rejects_it_rule_violation_with_the_findings_in_the_report(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docproc.settings import get_settings

    monkeypatch.setenv("DOCPROC_OFFICIAL_RULES", "enforce")
    get_settings.cache_clear()
    try:
        pipeline.upload("in/br-cl-13.xml", NONCONFORMANT)
        state = process_invoice(pipeline.source, "in/br-cl-13.xml", return_state=True)
    finally:
        monkeypatch.delenv("DOCPROC_OFFICIAL_RULES")
        get_settings.cache_clear()
    assert state.is_failed() and "rule_violation" in state.message
    report = json.loads(pipeline.read_target("rejected/in/br-cl-13.xml.json"))
    assert report["reasons"] == ["rule_violation"]
    assert report["details"][0].startswith("[BR-CL-13] ")
    assert "BR-CL-13" in [f["rule"] for f in report["findings"]]
    assert report["finding_count"] == len(report["findings"])
