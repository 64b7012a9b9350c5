"""Plain PDFs read by templates (SPEC 2.6) on PDFs made here: the text layer, a scan with
OCR on and off, the rules of SPEC 3 for template-read values, and hostile PDFs that must
end as a rejection within the time limit (SPEC 2.5), never a hang or a leftover process."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path

import pytest

from devtools import pdfmaker
from docproc import formats, rules
from docproc.formats import pdftext
from docproc.formats import templates as tpl
from docproc.formats.document import TEXT_HEAD_LINES, ExtractedDocument
from docproc.formats.plainpdf import PdfOptions, read_plain_pdf
from docproc.models import Format, Invoice, Reason, Rejection
from tests.support.catch_all import no_bug_caught
from tests.support.plainpdf import ACME

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "textpdf" / "templates"
needs_poppler = pytest.mark.skipif(
    not pdftext.available("pdftotext"), reason="poppler-utils is not installed"
)
needs_tesseract = pytest.mark.skipif(
    not pdftext.available("tesseract"), reason="tesseract-ocr is not installed"
)
pytestmark = needs_poppler


@pytest.fixture(scope="module")
def options() -> PdfOptions:
    return PdfOptions(templates=tpl.load(tpl.folder(TEMPLATES)))


def judged(data: bytes, options: PdfOptions) -> Invoice | Rejection:
    with no_bug_caught():
        return rules.judge(formats.read(data, pdf=options))


def rejected(data: bytes, options: PdfOptions) -> Rejection:
    result = judged(data, options)
    assert isinstance(result, Rejection), result
    return result


def scan_of(text: str, dpi: int = 200) -> bytes:
    """The text PDF printed and scanned: pdftoppm's grey image of each page, no text layer."""
    return pdfmaker.scanned(pdfmaker.text_pdf([text]), dpi=dpi)


def children() -> list[int]:
    """This process's child processes still alive (or unreaped)."""
    mine = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == mine:
            found.append(int(pid))
    return found


# --- the text layer ----------------------------------------------------------------------


def test_a_text_pdf_becomes_an_invoice_with_every_mapped_field(options: PdfOptions) -> None:
    invoice = judged(pdfmaker.text_pdf([ACME]), options)
    assert isinstance(invoice, Invoice), invoice
    assert invoice.format == Format.PDF_TEXT
    assert invoice.profile == "template:com.acme.tools"
    assert invoice.invoice_id == "ACME-2024-0042"
    assert str(invoice.invoice_date) == "2024-03-05" and str(invoice.due_date) == "2024-04-04"
    assert invoice.seller == "ACME Tools GmbH" and invoice.buyer == "Globex Corporation"
    assert invoice.seller_tax_id == "DE 123 456 789"
    assert invoice.issuer_key == "DE123456789"  # SPEC 2.6: the VAT id, no whitespace
    assert invoice.customer_id is None and invoice.currency == "EUR"
    assert (invoice.amount, invoice.net_total) == (Decimal("185.00"), Decimal("185.00"))
    assert invoice.tax_total == Decimal("35.15")
    assert (invoice.total, invoice.payable) == (Decimal("220.15"), Decimal("220.15"))
    assert [(i.description, i.quantity, i.unit_price, i.amount) for i in invoice.items] == [
        ("Hammer, steel", Decimal("2.0"), Decimal("12.5"), Decimal("25.00")),
        ("Screwdriver set", Decimal("1.0"), Decimal("40.0"), Decimal("40.00")),
        ("Workbench", Decimal("1.0"), Decimal("120.0"), Decimal("120.00")),
    ]


def test_the_reader_keeps_the_fields_as_the_template_gave_them(options: PdfOptions) -> None:
    doc = formats.read(pdfmaker.text_pdf([ACME]), pdf=options)
    assert isinstance(doc, ExtractedDocument)
    assert doc.template == "com.acme.tools" and doc.pages == 1 and not doc.problems
    assert doc.fields["amount"] == 220.15 and doc.fields["vat"] == "DE 123 456 789"
    assert doc.invoice_id == "ACME-2024-0042"
    assert "by template com.acme.tools" in formats.describe(doc)


def test_without_a_vat_id_the_template_name_is_the_issuer_key(options: PdfOptions) -> None:
    text = ACME.replace("VAT ID: DE 123 456 789", "")
    invoice = judged(pdfmaker.text_pdf([text]), options)
    assert isinstance(invoice, Invoice)
    assert invoice.issuer_key == "com.acme.tools" and invoice.seller_tax_id is None


def test_absent_amounts_are_derived_as_spec_says(options: PdfOptions) -> None:
    no_net = ACME.replace("Net:       185.00\n", "")
    invoice = judged(pdfmaker.text_pdf([no_net]), options)
    assert isinstance(invoice, Invoice), invoice
    assert invoice.amount == invoice.net_total == Decimal("185.00")  # total - tax
    no_tax = ACME.replace("VAT:        35.15\n", "")
    invoice = judged(pdfmaker.text_pdf([no_tax]), options)
    assert isinstance(invoice, Invoice), invoice
    assert invoice.tax_total == Decimal("35.15")  # total - untaxed
    neither = no_net.replace("VAT:        35.15\n", "").replace("Workbench", "Bench")
    invoice = judged(pdfmaker.text_pdf([neither]), options)
    assert isinstance(invoice, Invoice), invoice
    assert (invoice.amount, invoice.tax_total) == (Decimal("220.15"), Decimal("0.00"))


def test_no_partner_name_is_an_empty_buyer(options: PdfOptions) -> None:
    invoice = judged(pdfmaker.text_pdf([ACME.replace("Bill to: Globex Corporation", "")]), options)
    assert isinstance(invoice, Invoice) and invoice.buyer == ""


# --- the rules of SPEC 3 for template-read values ----------------------------------------


def test_a_template_missing_a_field_names_it(options: PdfOptions) -> None:
    result = rejected(pdfmaker.text_pdf(["Initech\nBill 42 on 2024-01-31\n"]), options)
    assert result.reasons == (Reason.MISSING_FIELD,)
    assert result.details == ("template com.initech.short matches but gives no `amount`",)
    assert result.format == Format.PDF_TEXT
    assert result.invoice_id == "42" and result.issuer_key == "com.initech.short"


def test_every_missing_required_field_is_named(options: PdfOptions) -> None:
    result = rejected(pdfmaker.text_pdf(["Initech\n"]), options)
    assert result.reasons == (Reason.MISSING_FIELD,)
    assert {d.split("`")[1] for d in result.details} == {"invoice_number", "date", "amount"}


def test_lines_that_do_not_sum_are_items_sum_mismatch(options: PdfOptions) -> None:
    text = ACME.replace("1     120.00     120.00", "1     120.00     130.00")
    result = rejected(pdfmaker.text_pdf([text]), options)
    assert result.reasons == (Reason.ITEMS_SUM_MISMATCH,)
    assert "sum to 195.00, not amount_untaxed 185.00" in result.details[0]


def test_lines_are_not_summed_without_amount_untaxed(options: PdfOptions) -> None:
    text = ACME.replace("1     120.00     120.00", "1     120.00     130.00")
    text = text.replace("Net:       185.00\n", "")
    assert isinstance(judged(pdfmaker.text_pdf([text]), options), Invoice)


def test_totals_that_disagree_are_total_mismatch(options: PdfOptions) -> None:
    result = rejected(pdfmaker.text_pdf([ACME.replace("220.15 EUR", "221.15 EUR")]), options)
    assert result.reasons == (Reason.TOTAL_MISMATCH,)
    assert "185.00 + amount_tax 35.15 = 220.15, not amount 221.15" in result.details[0]


def test_bad_id_bad_number_bad_date(options: PdfOptions) -> None:
    text = (
        ACME.replace("ACME-2024-0042", "ACME-2024-0042é")
        .replace("220.15 EUR", "220.155 EUR")
        .replace("Date: 2024-03-05", "Date: 2024-02-30")
    )
    result = rejected(pdfmaker.text_pdf([text]), options)
    assert result.reasons == (Reason.BAD_ID, Reason.BAD_NUMBER, Reason.BAD_DATE)
    assert result.invoice_id is None  # not kept: it fails the id rule


# --- no text, no template, OCR ------------------------------------------------------------


def test_no_template_shows_the_first_lines_of_the_text(options: PdfOptions) -> None:
    lines = [f"Umbrella Corp line {n}" for n in range(60)]
    result = rejected(pdfmaker.text_pdf(["\n".join(lines)]), options)
    assert result.reasons == (Reason.NO_TEMPLATE,)
    assert result.format == Format.PDF_TEXT
    (detail,) = result.details
    assert "Umbrella Corp line 0\n" in detail and f"line {TEXT_HEAD_LINES - 1}" in detail
    assert f"line {TEXT_HEAD_LINES}\n" not in detail and not detail.endswith(
        f"line {TEXT_HEAD_LINES}"
    )


def test_a_scan_with_ocr_off_is_no_text(options: PdfOptions) -> None:
    result = rejected(scan_of(ACME), options)
    assert result.reasons == (Reason.NO_TEXT,)
    assert "OCR is off (DOCPROC_OCR=tesseract" in result.details[0]


def test_a_blank_pdf_with_no_attachment_is_no_text_now(options: PdfOptions) -> None:
    """It was unsupported_format before plain PDFs were read (SPEC 2.4 sends it to 2.6)."""
    assert rejected(pdfmaker.image_pdf([(8, 8, b"\xff" * 64)], dpi=72), options).reasons == (
        Reason.NO_TEXT,
    )


@needs_tesseract
def test_a_scan_with_ocr_on_is_read_by_tesseract(options: PdfOptions) -> None:
    ocr = PdfOptions(ocr=True, templates=options.templates)
    invoice = judged(scan_of(ACME), ocr)
    assert isinstance(invoice, Invoice), invoice
    assert invoice.format == Format.PDF_OCR
    assert (invoice.invoice_id, invoice.total, invoice.issuer_key) == (
        "ACME-2024-0042",
        Decimal("220.15"),
        "DE123456789",
    )
    assert len(invoice.items) == 3


@needs_tesseract
def test_ocr_that_finds_no_text_is_no_text(options: PdfOptions) -> None:
    blank = pdfmaker.image_pdf([(200, 200, b"\xff" * 40_000)], dpi=72)
    result = rejected(blank, PdfOptions(ocr=True, templates=options.templates))
    assert result.reasons == (Reason.NO_TEXT,)
    assert "OCR found no text" in result.details[0]


def test_ocr_without_tesseract_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pdftext.available
    monkeypatch.setattr(pdftext, "available", lambda p: p != "tesseract" and real(p))
    result = rejected(scan_of(ACME), PdfOptions(ocr=True))
    assert result.reasons == (Reason.NO_TEXT,)
    assert "tesseract not installed" in result.details[0]


def test_without_pdftotext_the_pdf_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdftext, "available", lambda p: False)
    result = rejected(pdfmaker.text_pdf([ACME]), PdfOptions())
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert "pdftotext is not installed" in result.details[0]


def test_the_e_invoice_reader_alone_still_calls_it_unsupported() -> None:
    from docproc.formats.einvoice import read_einvoice

    doc = read_einvoice(pdfmaker.text_pdf([ACME]), max_bytes=10**7)
    assert [p.reason for p in doc.problems] == [Reason.UNSUPPORTED_FORMAT]


# --- hostile PDFs (SPEC 2.5): a rejection within bounded time, nothing left running -------


def hostile(data: bytes, options: PdfOptions, within: float) -> Rejection:
    before = set(children())
    start = time.monotonic()
    result = rejected(data, options)
    elapsed = time.monotonic() - start
    assert elapsed < within, f"took {elapsed:.1f} s"
    assert set(children()) <= before, "a child process was left behind"
    return result


def test_a_page_tree_that_never_ends(options: PdfOptions) -> None:
    result = hostile(pdfmaker.endless_page_tree(), options, within=10)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,), result


@needs_tesseract
def test_a_huge_page_is_not_rendered(options: PdfOptions) -> None:
    data = pdfmaker.huge_page(text="")
    result = hostile(data, PdfOptions(ocr=True, templates=options.templates), within=20)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert "too large to render" in result.details[0] or "memory" in result.details[0]


def test_a_pdf_bomb_is_stopped_by_the_time_limit(options: PdfOptions) -> None:
    data = pdfmaker.bomb(decompressed_mib=512)
    assert len(data) < 2 * 1024 * 1024
    result = hostile(data, PdfOptions(timeout=1, templates=options.templates), within=10)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert "took longer than the time limit" in result.details[0]


def test_pdftotext_over_the_memory_limit_is_malformed(options: PdfOptions) -> None:
    """8 MiB of address space: pdftotext cannot even map its libraries. (poppler streams
    content and merges overlapping glyphs: no PDF made here took it past 256 MiB.)"""
    tight = PdfOptions(memory=8 * 1024 * 1024, templates=options.templates)
    result = hostile(pdfmaker.text_pdf([ACME]), tight, within=10)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert result.details[0].startswith("pdftotext "), result.details
    assert "memory limit of 8 MiB" in result.details[0], result.details


def test_ten_thousand_pages_stay_within_the_time_limit(options: PdfOptions) -> None:
    data = pdfmaker.many_pages(20_000)
    result = hostile(data, PdfOptions(timeout=0.2, templates=options.templates), within=10)
    assert result.reasons in ((Reason.MALFORMED_DOCUMENT,), (Reason.NO_TEMPLATE,))


@needs_tesseract
def test_tesseract_is_killed_by_the_time_limit(options: PdfOptions) -> None:
    data = scan_of(ACME)
    result = hostile(data, PdfOptions(ocr=True, timeout=0.4), within=10)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert "by OCR" in result.details[0] and "time limit" in result.details[0]


def test_text_larger_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdftext, "MAX_TEXT_BYTES", 100)
    result = rejected(pdfmaker.text_pdf([ACME]), PdfOptions())
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    assert "larger than" in result.details[0]


def test_the_reader_never_raises() -> None:
    """Garbage after %PDF-: whatever pypdf and poppler make of it, a rejection."""
    import random

    rng = random.Random(27)
    base = pdfmaker.text_pdf([ACME])
    with no_bug_caught():
        for _ in range(20):
            data = bytearray(base)
            for _ in range(30):
                data[rng.randrange(8, len(data))] = rng.randrange(256)
            doc = read_plain_pdf(bytes(data))
            assert isinstance(rules.judge(doc), Invoice | Rejection)
