"""invoice2data's templates as docproc uses them (SPEC 2.6): the shipped ones on
invoice2data's own compare PDFs (values as in its JSON files), the user's winning over a
shipped one, and the `templates` and `validate` commands."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools import pdfmaker
from docproc import formats, rules
from docproc.cli import app
from docproc.formats import pdftext
from docproc.formats import templates as tpl
from docproc.formats.plainpdf import PdfOptions
from docproc.models import Format, Invoice, Reason, Rejection
from tests.support.catch_all import no_bug_caught
from tests.support.plainpdf import ACME

DATA = Path(__file__).resolve().parents[1] / "data" / "textpdf"
TEMPLATES = DATA / "templates"
runner = CliRunner()
pytestmark = pytest.mark.skipif(
    not pdftext.available("pdftotext"), reason="poppler-utils is not installed"
)

# What each compare PDF becomes with the shipped templates, and why.
LOADED = ["AmazonWebServices", "FlipkartInvoice", "QualityHosting", "free_fiber", "oyo"]
REJECTED = {
    # Its date is read from an `area` of the page: docproc gives templates the whole
    # text (no second read of the file), where the regex finds several dates.
    "NetpresseInvoice": Reason.BAD_DATE,
    # Its template reads no amount (invoice2data's own test of lines).
    "SammyMaystoneLinesTest": Reason.MISSING_FIELD,
    # Its line subtotals include VAT: they cannot sum to amount_untaxed.
    "coolblue1": Reason.ITEMS_SUM_MISMATCH,
    "coolblue2": Reason.ITEMS_SUM_MISMATCH,
    # Its vendor's name is only in an image: its template needs OCR of a text PDF.
    "saeco": Reason.NO_TEMPLATE,
}


def expected(name: str) -> dict[str, object]:
    (values,) = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(values, dict)
    return values


def judged(path: Path, options: PdfOptions | None = None) -> Invoice | Rejection:
    with no_bug_caught():
        doc = formats.read(path.read_bytes(), pdf=options or PdfOptions())
        return rules.judge(doc)


@pytest.mark.parametrize("name", LOADED)
def test_compare_pdfs_load_with_invoice2datas_values(name: str) -> None:
    invoice = judged(DATA / f"{name}.pdf")
    assert isinstance(invoice, Invoice), invoice
    want = expected(name)
    assert invoice.format == Format.PDF_TEXT
    assert invoice.invoice_id == want["invoice_number"]
    assert invoice.invoice_date == date.fromisoformat(str(want["date"]))
    assert invoice.seller == want["issuer"]
    assert invoice.total == Decimal(str(want["amount"])).quantize(Decimal("0.01"))
    assert invoice.currency == want["currency"]
    if "amount_untaxed" in want:
        assert invoice.amount == Decimal(str(want["amount_untaxed"])).quantize(Decimal("0.01"))
    if "vat" in want:
        assert invoice.seller_tax_id == want["vat"]
        assert invoice.issuer_key == "".join(str(want["vat"]).split())
    if "date_due" in want:
        assert invoice.due_date == date.fromisoformat(str(want["date_due"]))
    assert invoice.buyer == want.get("partner_name", "")
    assert invoice.profile is not None and invoice.profile.startswith("template:")


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_compare_pdfs_that_do_not_load_say_why(name: str) -> None:
    result = judged(DATA / f"{name}.pdf")
    assert isinstance(result, Rejection)
    assert result.reasons == (REJECTED[name],), result.problems


def test_azure_interior_embeds_a_factur_x_invoice() -> None:
    """SPEC 2.4: the embedded invoice is read, not the pages; Odoo's Factur-X there names
    no buyer and no seller identifier, and EN 16931's rules reject it for that."""
    result = judged(DATA / "AzureInterior.pdf")
    assert isinstance(result, Rejection) and result.format == Format.FACTUR_X
    assert result.invoice_id == expected("AzureInterior")["invoice_number"]
    assert Reason.MISSING_FIELD in result.reasons


def test_every_shipped_template_loads_once() -> None:
    first = tpl.load()
    assert len(first) >= 200 and not first.problems
    assert tpl.load() is first  # cached: once per process
    names = [t.name for t in first.templates]
    assert "com.amazon.aws" in names and all(not n.endswith(".yml") for n in names)
    priorities = [t.priority for t in first.templates]
    assert priorities == sorted(priorities, reverse=True)


def test_a_users_template_wins_over_a_shipped_one_for_the_same_text() -> None:
    mine = (
        "mine/my.oyo.yml",
        "issuer: My OYO\nkeywords: [OYO, PAYMENT RECEIPT]\npriority: 1\n"
        "fields:\n  invoice_number: Booking ID\\s+(\\S+)\n",
    )
    templates = tpl.load([mine])
    assert templates.templates[0].name == "my.oyo" and templates.templates[0].origin == tpl.USER
    doc = formats.read((DATA / "oyo.pdf").read_bytes(), pdf=PdfOptions(templates=templates))
    assert getattr(doc, "template", None) == "my.oyo"


def test_a_users_template_replaces_the_shipped_one_of_its_name() -> None:
    same = ("com.oyo.invoice.yml", "issuer: Replaced\nkeywords: [nothing like this]\n")
    templates = tpl.load([same])
    (oyo,) = [t for t in templates.templates if t.name == "com.oyo.invoice"]
    assert oyo.origin == tpl.USER and oyo.issuer == "Replaced"
    result = judged(DATA / "oyo.pdf", PdfOptions(templates=templates))
    assert isinstance(result, Rejection) and result.reasons == (Reason.NO_TEMPLATE,)


def test_a_broken_user_template_is_named_not_fatal() -> None:
    templates = tpl.load(
        [("bad.yml", "issuer: [unclosed\n"), ("nokw.yml", "issuer: X\n"), ("list.yml", "- a\n")]
    )
    assert len(templates.problems) == 3
    assert all(p.startswith("user template ") for p in templates.problems)
    assert "no `keywords`" in " ".join(templates.problems)


def test_folder_reads_subfolders_and_names_by_file() -> None:
    pairs = tpl.folder(TEMPLATES)
    assert ("com.acme.tools.yml" in dict(pairs)) and len(pairs) == 2
    assert tpl.template_name("s3/prefix/fr/com.free.mobile.YML") == "com.free.mobile"


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture
def user_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    from docproc.settings import get_settings

    monkeypatch.setenv("DOCPROC_TEMPLATES", str(TEMPLATES))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_templates_list_puts_the_users_first(user_templates: None) -> None:
    result = runner.invoke(app, ["templates", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [t["origin"] for t in listed["templates"][:2]] == ["user", "user"]
    result = runner.invoke(app, ["templates", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "com.acme.tools" in result.output


def test_templates_test_shows_text_template_and_fields(
    user_templates: None, tmp_path: Path
) -> None:
    pdf = tmp_path / "acme.pdf"
    pdf.write_bytes(pdfmaker.text_pdf([ACME]))
    result = runner.invoke(app, ["templates", "test", str(pdf), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert "Invoice number: ACME-2024-0042" in shown["text"]
    assert shown["matched"] == "com.acme.tools" and shown["format"] == "pdf-text"
    assert shown["fields"]["amount"] == 220.15 and len(shown["fields"]["lines"]) == 3
    assert shown["verdict"]["status"] == "valid"
    result = runner.invoke(app, ["templates", "test", str(pdf)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "matched: com.acme.tools" in result.output and "docproc would load" in result.output


def test_templates_test_names_the_keywords_the_nearest_templates_miss(
    user_templates: None, tmp_path: Path
) -> None:
    pdf = tmp_path / "almost.pdf"
    pdf.write_bytes(pdfmaker.text_pdf([ACME.replace("Invoice number", "Document no")]))
    result = runner.invoke(app, ["templates", "test", str(pdf), "--json"])
    assert result.exit_code == 1, result.output
    shown = json.loads(result.output)
    assert shown["matched"] is None and shown["verdict"]["reasons"] == ["no_template"]
    nearest = {c["name"]: c for c in shown["candidates"]}
    assert nearest["com.acme.tools"]["missing_keywords"] == ["Invoice number"]
    forced = runner.invoke(
        app, ["templates", "test", str(pdf), "--template", "com.acme.tools", "--json"]
    )
    assert json.loads(forced.output)["verdict"]["reasons"] == ["missing_field"]
    unknown = runner.invoke(app, ["templates", "test", str(pdf), "--template", "nope"])
    assert unknown.exit_code == 2


def test_validate_reads_a_plain_pdf_through_the_same_door(
    user_templates: None, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(pdfmaker.text_pdf([ACME]))
    bad.write_bytes(pdfmaker.text_pdf([ACME.replace("220.15 EUR", "221.15 EUR")]))
    result = runner.invoke(app, ["validate", "--json", str(good), str(bad)])
    assert result.exit_code == 1, result.output
    ok, rejected = json.loads(result.output)
    assert ok["status"] == "valid" and ok["format"] == "pdf-text"
    assert ok["header"]["profile"] == "template:com.acme.tools"
    assert rejected["reasons"] == ["total_mismatch"]
    assert rejected["header"]["template"] == "com.acme.tools" and rejected["item_count"] == 3
    shown = runner.invoke(app, ["validate", str(bad)], env={"COLUMNS": "200"})
    assert "total_mismatch" in shown.output
