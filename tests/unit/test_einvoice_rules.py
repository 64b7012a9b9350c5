"""The rules of SPEC section 3 on e-invoices: each broken by a minimal edit of a real file.

Edits replace a string that must occur exactly once, so that a typo fails loudly
instead of testing the unedited file.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from docproc.formats.document import EInvoiceDocument, RawLine
from docproc.formats.einvoice import read_einvoice
from docproc.models import DocumentType, Invoice, Reason, Rejection
from docproc.rules.en16931 import judge

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
MAX = 10 * 1024 * 1024
UBL = "en16931-ubl/ubl-tc434-example2.xml"  # allowances, charges, prepaid, three VAT rows
CII = "factur-x/factur-x-en16931.xml"  # allowances, charges, S at two rates, E and K
MINIMUM = "factur-x/factur-x-minimum.xml"


def edited(name: str, *edits: tuple[str, str]) -> bytes:
    data = (DATA / name).read_bytes()
    for old, new in edits:
        assert data.count(old.encode()) == 1, f"{old!r} must occur once in {name}"
        data = data.replace(old.encode(), new.encode())
    return data


def result(name: str, *edits: tuple[str, str]) -> Invoice | Rejection:
    return judge(read_einvoice(edited(name, *edits), max_bytes=MAX))


def rejected(name: str, *edits: tuple[str, str]) -> Rejection:
    outcome = result(name, *edits)
    assert isinstance(outcome, Rejection), outcome
    return outcome


def accepted(name: str, *edits: tuple[str, str]) -> Invoice:
    outcome = result(name, *edits)
    assert isinstance(outcome, Invoice), outcome
    return outcome


def ubl_amount(tag: str, value: str) -> str:
    return f'<cbc:{tag} currencyID="NOK">{value}</cbc:{tag}>'


# --- missing_field ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "term"),
    [
        (("<cbc:ID>TOSL108</cbc:ID>", ""), "BT-1"),
        (("<cbc:IssueDate>2013-06-30</cbc:IssueDate>", ""), "BT-2"),
        (("<cbc:DocumentCurrencyCode>NOK</cbc:DocumentCurrencyCode>", ""), "BT-5"),
        (("Salescompany ltd.</cbc:RegistrationName>", " \n </cbc:RegistrationName>"), "BT-27"),
        (("<cbc:RegistrationName>The Buyercompany</cbc:RegistrationName>", ""), "BT-44"),
        ((ubl_amount("TaxExclusiveAmount", "1436.50"), ""), "BT-109"),
        ((ubl_amount("TaxInclusiveAmount", "1801.78"), ""), "BT-112"),
        ((ubl_amount("PayableAmount", "801.78"), ""), "BT-115"),
        (("<cbc:Name>Laptop computer</cbc:Name>", ""), "BT-153"),
        ((ubl_amount("LineExtensionAmount", "187.50"), ""), "BT-131"),
    ],
)
def test_missing_field(edit: tuple[str, str], term: str) -> None:
    rejection = rejected(UBL, edit)
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert term in rejection.details[0]


def test_missing_bt_106_in_a_document_with_lines() -> None:
    rejection = rejected(CII, ("<ram:LineTotalAmount>95.00</ram:LineTotalAmount>", ""))
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert "BT-106" in rejection.details[0]


def test_minimum_without_tax_basis_misses_bt_106_and_bt_109() -> None:
    rejection = rejected(MINIMUM, ("<ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>", ""))
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert ["BT-106" in d for d in rejection.details] == [True, False]
    assert "BT-109" in rejection.details[1]


def test_no_seller_identifier_is_no_issuer_key() -> None:
    rejection = rejected(
        MINIMUM,
        ('<ram:ID schemeID="0002">123456782</ram:ID>', ""),
        ('<ram:ID schemeID="VA">FR11123456782</ram:ID>', ""),
    )
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert "issuer key" in rejection.details[0]


# --- issuer key and ids -------------------------------------------------------------


def test_issuer_key_falls_back_to_the_legal_registration_and_drops_blanks() -> None:
    invoice = accepted(UBL, ("<cbc:CompanyID>NO123456789MVA</cbc:CompanyID>", ""))
    assert invoice.issuer_key == "123456789"  # BT-30
    assert invoice.seller_tax_id is None
    spaced = accepted(
        UBL,
        (
            "<cbc:CompanyID>NO123456789MVA</cbc:CompanyID>",
            "<cbc:CompanyID>NO 123 456 789 MVA</cbc:CompanyID>",
        ),
    )
    assert spaced.issuer_key == "NO123456789MVA"
    assert spaced.seller_tax_id == "NO 123 456 789 MVA"


def test_cii_issuer_key_falls_back_to_the_legal_organisation() -> None:
    invoice = accepted(MINIMUM, ('<ram:ID schemeID="VA">FR11123456782</ram:ID>', ""))
    assert invoice.issuer_key == "123456782"


@pytest.mark.parametrize(
    "number",
    ["A" * 65, "TOSL108-ü", "...", "TOSL\t108"],
    ids=["too-long", "non-ascii", "dots", "control"],
)
def test_bad_invoice_number(number: str) -> None:
    rejection = rejected(UBL, ("<cbc:ID>TOSL108</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>"))
    assert rejection.reasons == (Reason.BAD_ID,)


def test_invoice_numbers_with_slash_space_and_hash_are_ids() -> None:
    invoice = accepted(UBL, ("<cbc:ID>TOSL108</cbc:ID>", "<cbc:ID>2013/TOSL #108</cbc:ID>"))
    assert invoice.invoice_id == "2013/TOSL #108"


def test_bad_issuer_key() -> None:
    rejection = rejected(
        UBL,
        (
            "<cbc:CompanyID>NO123456789MVA</cbc:CompanyID>",
            f"<cbc:CompanyID>NO{'1' * 70}</cbc:CompanyID>",
        ),
    )
    assert rejection.reasons == (Reason.BAD_ID,)
    assert "issuer key" in rejection.details[0]


def test_customer_id_is_stored_as_written_never_rejected() -> None:
    invoice = accepted(
        UBL,
        (
            '<cbc:ID schemeID="0088">3456789012098</cbc:ID>',
            "<cbc:ID>Jürgen Müller, Zimmer 12</cbc:ID>",
        ),
    )
    assert invoice.customer_id == "Jürgen Müller, Zimmer 12"


# --- bad_number -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        (ubl_amount("TaxExclusiveAmount", "1436.50"), ubl_amount("TaxExclusiveAmount", "1436.500")),
        (ubl_amount("TaxExclusiveAmount", "1436.50"), ubl_amount("TaxExclusiveAmount", "1,436.50")),
        (ubl_amount("TaxExclusiveAmount", "1436.50"), ubl_amount("TaxExclusiveAmount", "1.4365E3")),
        (ubl_amount("TaxAmount", "365.28"), ubl_amount("TaxAmount", "365.280")),
        (ubl_amount("PrepaidAmount", "1000.00"), ubl_amount("PrepaidAmount", "1000.001")),
        (ubl_amount("LineExtensionAmount", "4.96"), ubl_amount("LineExtensionAmount", "4.960")),
        (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "12345678901234.00")),
        (
            '<cbc:InvoicedQuantity unitCode="MTR">250</cbc:InvoicedQuantity>',
            '<cbc:InvoicedQuantity unitCode="MTR">2 5 0</cbc:InvoicedQuantity>',
        ),
    ],
    ids=["1.500", "comma", "exponent", "bt-110", "bt-113", "bt-131", "too-big", "quantity"],
)
def test_bad_number(edit: tuple[str, str]) -> None:
    rejection = rejected(UBL, edit)
    assert rejection.reasons == (Reason.BAD_NUMBER,)


def test_a_quantity_the_columns_cannot_hold_is_refused() -> None:
    """16 integer digits do not fit DECIMAL(25,10): refused, not silently cut."""
    rejection = rejected(
        UBL,
        (
            '<cbc:InvoicedQuantity unitCode="MTR">250</cbc:InvoicedQuantity>',
            '<cbc:InvoicedQuantity unitCode="MTR">1234567890123456</cbc:InvoicedQuantity>',
        ),
    )
    assert rejection.reasons == (Reason.BAD_NUMBER,)
    assert "BT-129" in rejection.details[0]


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("250.00000000000", "250.0000000000"),  # as XRechnung's test files write it
        ("250.12345678905", "250.1234567890"),  # half-even: ...05 -> ...0
        ("250.12345678915", "250.1234567892"),  # half-even: ...15 -> ...2
        ("250." + "0" * 5000, "250.0000000000"),
        ("250.1234", "250.1234"),  # up to 10 decimals: as written
    ],
    ids=["zeros", "half-even-down", "half-even-up", "5000-decimals", "as-written"],
)
def test_a_quantity_beyond_10_decimals_is_rounded_half_even(written: str, stored: str) -> None:
    """SPEC 4: EN 16931 limits the decimals of amounts only (BR-DEC); a quantity keeps 10
    decimals and is rounded half-even beyond, never rejected."""
    invoice = result(
        UBL,
        (
            '<cbc:InvoicedQuantity unitCode="MTR">250</cbc:InvoicedQuantity>',
            f'<cbc:InvoicedQuantity unitCode="MTR">{written}</cbc:InvoicedQuantity>',
        ),
    )
    assert isinstance(invoice, Invoice), invoice
    (item,) = [i for i in invoice.items if i.unit_code == "MTR"]
    assert str(item.quantity) == stored


@pytest.mark.parametrize(
    ("edit", "term"),
    [
        (
            (
                "<cbc:DocumentCurrencyCode>NOK</cbc:DocumentCurrencyCode>",
                "<cbc:DocumentCurrencyCode>NOKK</cbc:DocumentCurrencyCode>",
            ),
            "BT-5",
        ),
        (
            (
                '<cbc:InvoicedQuantity unitCode="MTR">250</cbc:InvoicedQuantity>',
                f'<cbc:InvoicedQuantity unitCode="{"M" * 40}">250</cbc:InvoicedQuantity>',
            ),
            "BT-130",
        ),
        (
            (
                "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
                f"<cbc:InvoiceTypeCode>{'3' * 30}</cbc:InvoiceTypeCode>",
            ),
            "BT-3",
        ),
    ],
    ids=["currency", "unit-code", "type-code"],
)
def test_a_code_no_code_list_holds_is_refused(edit: tuple[str, str], term: str) -> None:
    """Stored as it is, it would fail the insert: the document would have no outcome."""
    rejection = rejected(UBL, edit)
    assert Reason.MALFORMED_DOCUMENT in rejection.reasons
    assert any(term in detail for detail in rejection.details)


def test_decimals_written_in_other_ways_are_numbers() -> None:
    invoice = accepted(
        UBL,
        (ubl_amount("PrepaidAmount", "1000.00"), ubl_amount("PrepaidAmount", " +1000. ")),
        (ubl_amount("TaxExclusiveAmount", "1436.50"), ubl_amount("TaxExclusiveAmount", "1436.5")),
    )
    assert invoice.prepaid == Decimal("1000.00")
    assert invoice.net_total == Decimal("1436.50")
    assert str(invoice.net_total) == "1436.50"


def test_quantities_and_prices_keep_their_decimals() -> None:
    invoice = accepted(CII)
    assert str(invoice.items[0].quantity) == "1.0000"
    assert str(invoice.items[0].unit_price) == "60.0000"


# --- bad_date -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        ("<cbc:IssueDate>2013-06-30</cbc:IssueDate>", "<cbc:IssueDate>2013-02-30</cbc:IssueDate>"),
        ("<cbc:IssueDate>2013-06-30</cbc:IssueDate>", "<cbc:IssueDate>30.06.2013</cbc:IssueDate>"),
        ("<cbc:DueDate>2013-07-20</cbc:DueDate>", "<cbc:DueDate>2013-7-20</cbc:DueDate>"),
    ],
)
def test_bad_ubl_date(edit: tuple[str, str]) -> None:
    assert rejected(UBL, edit).reasons == (Reason.BAD_DATE,)


@pytest.mark.parametrize(
    "new",
    [
        '<udt:DateTimeString format="102">20260231</udt:DateTimeString>',
        '<udt:DateTimeString format="102">2026-01-31</udt:DateTimeString>',
        '<udt:DateTimeString format="610">202601</udt:DateTimeString>',
    ],
)
def test_bad_cii_date(new: str) -> None:
    old = '<udt:DateTimeString format="102">20260131</udt:DateTimeString>'
    assert rejected(MINIMUM, (old, new)).reasons == (Reason.BAD_DATE,)


def test_ubl_due_date_from_payment_means() -> None:
    invoice = accepted(
        UBL,
        ("<cbc:DueDate>2013-07-20</cbc:DueDate>", ""),
        (
            "<cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>",
            "<cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
            "<cbc:PaymentDueDate>2013-08-01</cbc:PaymentDueDate>",
        ),
    )
    assert invoice.due_date == date(2013, 8, 1)


# --- the sums -------------------------------------------------------------------------


def test_items_sum_mismatch_ubl() -> None:
    rejection = rejected(
        UBL,
        (ubl_amount("LineExtensionAmount", "187.50"), ubl_amount("LineExtensionAmount", "187.49")),
    )
    assert rejection.reasons == (Reason.ITEMS_SUM_MISMATCH,)
    assert "[BR-CO-10]" in rejection.details[0]


def test_items_sum_mismatch_cii() -> None:
    rejection = rejected(
        CII,
        (
            "<ram:LineTotalAmount>7.00</ram:LineTotalAmount>",
            "<ram:LineTotalAmount>7.01</ram:LineTotalAmount>",
        ),
    )
    assert rejection.reasons == (Reason.ITEMS_SUM_MISMATCH,)


def test_allowance_total_mismatch() -> None:
    rejection = rejected(
        UBL,
        (
            ubl_amount("AllowanceTotalAmount", "100.00"),
            ubl_amount("AllowanceTotalAmount", "100.01"),
        ),
    )
    assert rejection.reasons == (Reason.ALLOWANCE_CHARGE_MISMATCH,)
    assert [d[:10] for d in rejection.details] == ["[BR-CO-11]", "[BR-CO-13]"]


def test_document_level_charge_mismatch() -> None:
    rejection = rejected(
        CII,
        (
            "<ram:ActualAmount>10.00</ram:ActualAmount>",
            "<ram:ActualAmount>10.50</ram:ActualAmount>",
        ),
    )
    assert rejection.reasons == (Reason.ALLOWANCE_CHARGE_MISMATCH,)
    assert [d[:10] for d in rejection.details] == ["[BR-CO-12]"]


def test_net_total_mismatch() -> None:
    rejection = rejected(
        UBL,
        (ubl_amount("TaxExclusiveAmount", "1436.50"), ubl_amount("TaxExclusiveAmount", "1437.50")),
        (ubl_amount("TaxInclusiveAmount", "1801.78"), ubl_amount("TaxInclusiveAmount", "1802.78")),
        (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "802.78")),
    )
    assert rejection.reasons == (Reason.ALLOWANCE_CHARGE_MISMATCH,)
    assert [d[:10] for d in rejection.details] == ["[BR-CO-13]"]


def test_tax_sum_mismatch() -> None:
    rejection = rejected(
        UBL, (ubl_amount("TaxAmount", "365.13"), ubl_amount("TaxAmount", "365.14"))
    )
    assert rejection.reasons == (Reason.TAX_SUM_MISMATCH,)
    assert "[BR-CO-14]" in rejection.details[0]


def test_taxable_amount_one_unit_away_from_its_lines() -> None:
    old = ubl_amount("TaxableAmount", "1460.50")
    rejection = rejected(UBL, (old, ubl_amount("TaxableAmount", "1461.50")))
    assert rejection.reasons == (Reason.TAX_BREAKDOWN_MISMATCH,)
    assert "[BR-S-08]" in rejection.details[0]
    # Less than 1.00 away is within the official tolerance.
    assert accepted(UBL, (old, ubl_amount("TaxableAmount", "1461.49"))).taxes[0].taxable_amount == (
        Decimal("1461.49")
    )


def test_exempt_row_is_matched_by_category_alone() -> None:
    rejection = rejected(
        UBL, (ubl_amount("TaxableAmount", "-25.00"), ubl_amount("TaxableAmount", "-27.00"))
    )
    assert rejection.reasons == (Reason.TAX_BREAKDOWN_MISMATCH,)
    assert "[BR-E-08]" in rejection.details[0]


def test_standard_rate_rows_are_matched_by_rate() -> None:
    """Moving the 4.96 line from 15 % to 25 % leaves both S rows away from their lines."""
    doc = read_einvoice((DATA / UBL).read_bytes(), max_bytes=MAX)
    moved = tuple(
        replace(line, tax_rate="25") if line.amount == "4.96" else line for line in doc.lines
    )
    rejection = judge(replace(doc, lines=moved))
    assert isinstance(rejection, Rejection)
    assert rejection.reasons == (Reason.TAX_BREAKDOWN_MISMATCH,)
    assert len(rejection.details) == 2


def test_row_tax_amount_against_rate() -> None:
    """[BR-CO-17]: 1.00 × 15 % is 0.15, not 1.15 (totals kept consistent otherwise)."""
    rejection = rejected(
        UBL,
        (ubl_amount("TaxAmount", "0.15"), ubl_amount("TaxAmount", "1.15")),
        (ubl_amount("TaxAmount", "365.28"), ubl_amount("TaxAmount", "366.28")),
        (ubl_amount("TaxInclusiveAmount", "1801.78"), ubl_amount("TaxInclusiveAmount", "1802.78")),
        (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "802.78")),
    )
    assert rejection.reasons == (Reason.TAX_BREAKDOWN_MISMATCH,)
    assert "[BR-CO-17]" in rejection.details[0]


def test_total_mismatch() -> None:
    rejection = rejected(
        UBL,
        (ubl_amount("TaxInclusiveAmount", "1801.78"), ubl_amount("TaxInclusiveAmount", "1801.79")),
        (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "801.79")),
    )
    assert rejection.reasons == (Reason.TOTAL_MISMATCH,)
    assert "[BR-CO-15]" in rejection.details[0]


def test_payable_mismatch() -> None:
    rejection = rejected(
        UBL, (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "801.77"))
    )
    assert rejection.reasons == (Reason.PAYABLE_MISMATCH,)
    assert "[BR-CO-16]" in rejection.details[0]


def test_rounding_amount_enters_the_amount_due() -> None:
    invoice = accepted(
        UBL,
        (
            ubl_amount("PayableAmount", "801.78"),
            ubl_amount("PayableRoundingAmount", "0.22") + ubl_amount("PayableAmount", "802.00"),
        ),
    )
    assert (invoice.rounding, invoice.payable) == (Decimal("0.22"), Decimal("802.00"))


def test_a_rejection_carries_every_code_in_spec_order() -> None:
    rejection = rejected(
        UBL,
        ("<cbc:IssueDate>2013-06-30</cbc:IssueDate>", "<cbc:IssueDate>2013-06-31</cbc:IssueDate>"),
        (ubl_amount("PayableAmount", "801.78"), ubl_amount("PayableAmount", "801.77")),
        ("<cbc:ID>TOSL108</cbc:ID>", "<cbc:ID>...</cbc:ID>"),
    )
    assert rejection.reasons == (Reason.BAD_ID, Reason.BAD_DATE, Reason.PAYABLE_MISMATCH)


# --- document type, and the judge on documents built directly -------------------------------


def test_credit_note_type_code_on_an_invoice_root() -> None:
    invoice = accepted(
        UBL,
        (
            "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
            "<cbc:InvoiceTypeCode>381</cbc:InvoiceTypeCode>",
        ),
    )
    assert invoice.document_type == DocumentType.CREDIT_NOTE
    assert invoice.type_code == "381"


def test_missing_rate_counts_as_zero_for_standard_rows() -> None:
    doc = read_einvoice((DATA / UBL).read_bytes(), max_bytes=MAX)
    lines = tuple(
        replace(line, tax_rate=None) if line.tax_category == "E" else line for line in doc.lines
    )
    assert isinstance(judge(replace(doc, lines=lines)), Invoice)  # E: by category alone
    moved = tuple(
        replace(line, tax_category="S", tax_rate=None) if line.tax_category == "E" else line
        for line in doc.lines
    )
    rejection = judge(replace(doc, lines=moved))
    assert isinstance(rejection, Rejection)
    assert rejection.reasons == (Reason.TAX_BREAKDOWN_MISMATCH,)


def test_the_judge_never_raises() -> None:
    doc = EInvoiceDocument(
        format=read_einvoice((DATA / UBL).read_bytes(), max_bytes=MAX).format,
        lines=(RawLine(line_no=1, amount="1" * 5000),),
    )
    outcome = judge(doc)
    assert isinstance(outcome, Rejection)
    assert Reason.MISSING_FIELD in outcome.reasons
