"""A plain PDF through the whole chain (SPEC 2.6) on moto, MariaDB and a Prefect API: read
by the user's template (a folder, or an S3 prefix), it becomes an invoices row flagged
`extracted`, a CSV and a run named after the invoice; through `process-invoice` and
`backfill-prefix` alike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import select

from devtools import pdfmaker
from docproc import schema
from flows.backfill import backfill_prefix
from flows.process_invoice import process_invoice
from tests.support.pipeline import Pipeline
from tests.support.plainpdf import ACME

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "textpdf" / "templates"
PDF = pdfmaker.text_pdf([ACME])
CSV = "DE123456789/ACME-2024-0042.csv"

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def templates_in(monkeypatch: pytest.MonkeyPatch) -> object:
    """Point DOCPROC_TEMPLATES somewhere for one test; the settings are read again."""
    from tasks import resources

    def use(where: str) -> None:
        monkeypatch.setenv("DOCPROC_TEMPLATES", where)
        resources.reset()

    yield use
    monkeypatch.delenv("DOCPROC_TEMPLATES", raising=False)
    resources.reset()


def loaded(pipeline: Pipeline) -> tuple[tuple[object, ...], str | None]:
    with pipeline.engine.connect() as conn:
        row = conn.execute(
            select(
                schema.invoices.c.issuer_key,
                schema.invoices.c.invoice_id,
                schema.invoices.c.format,
                schema.invoices.c.profile,
                schema.invoices.c.seller,
                schema.invoices.c.total,
            )
        ).one()
        flags = conn.execute(select(schema.documents.c.flags)).scalar_one()
    return tuple(row), flags


def test_a_plain_pdf_becomes_a_row_flagged_extracted_a_csv_and_a_named_run(
    pipeline: Pipeline, templates_in: object
) -> None:
    templates_in(str(TEMPLATES))  # type: ignore[operator]
    pipeline.upload("in/acme.pdf", PDF)
    state = process_invoice(pipeline.source, "in/acme.pdf", return_state=True)
    assert state.is_completed(), state.message
    row, flags = loaded(pipeline)
    assert row[:5] == (
        "DE123456789", "ACME-2024-0042", "pdf-text", "template:com.acme.tools", "ACME Tools GmbH"
    )  # fmt: skip
    assert str(row[5]) == "220.15"
    assert flags == "extracted"
    table = list(csv.reader(io.StringIO(pipeline.read_target(CSV).decode(), newline="")))
    assert len(table) == 4  # the header and the three lines
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"ACME-2024-0042 from s3://{pipeline.source}/in/acme.pdf"


def test_a_scan_with_ocr_on_becomes_a_row_flagged_extracted(
    pipeline: Pipeline, templates_in: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCPROC_OCR", "tesseract")
    templates_in(str(TEMPLATES))  # type: ignore[operator]
    pipeline.upload("in/scan.pdf", pdfmaker.scanned(PDF))
    state = process_invoice(pipeline.source, "in/scan.pdf", return_state=True)
    assert state.is_completed(), state.message
    row, flags = loaded(pipeline)
    assert row[:4] == ("DE123456789", "ACME-2024-0042", "pdf-ocr", "template:com.acme.tools")
    assert str(row[5]) == "220.15"
    assert flags == "extracted"


def test_templates_kept_on_s3_read_a_pdf_in_a_backfill(
    pipeline: Pipeline, templates_in: object
) -> None:
    for template in TEMPLATES.glob("*.yml"):
        pipeline.s3.put_object(
            Bucket=pipeline.target, Key=f"templates/{template.name}", Body=template.read_bytes()
        )
    templates_in(f"s3://{pipeline.target}/templates/")  # type: ignore[operator]
    pipeline.upload("in/acme.pdf", PDF)
    state = backfill_prefix(pipeline.source, "in/", return_state=True)
    summary = state.result()
    assert dict(summary.statuses) == {"loaded": 1}, summary
    row, flags = loaded(pipeline)
    assert row[2:4] == ("pdf-text", "template:com.acme.tools")
    assert flags == "extracted"


def test_a_pdf_no_template_reads_is_rejected_no_template(pipeline: Pipeline) -> None:
    pipeline.upload("in/other.pdf", pdfmaker.text_pdf(["Nothing a template knows\n42"]))
    state = process_invoice(pipeline.source, "in/other.pdf", return_state=True)
    assert state.is_failed() and "no_template" in state.message
