"""Every public e-invoice of tests/data/einvoices is read and judged as SPEC section 2 says.

The expected values are the ones the files state (BT numbers of EN 16931); the files are
the CEN's examples and akretion/factur-x's fixtures, each folder with its licence.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from docproc.formats.einvoice import read_einvoice
from docproc.models import DocumentType, Format, Invoice, Item, Reason, Rejection, Tax
from docproc.rules.en16931 import judge

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
MAX = 10 * 1024 * 1024

# file, format, issuer_key, invoice_id, invoice_date, currency, amount (BT-106),
# net_total (BT-109), tax_total (BT-110), total (BT-112), payable (BT-115), lines, tax rows
INVOICES = [
    (
        "en16931-cii/CII-BR-CO-10-RoundingIssue.xml",
        "cii",
        "DE123456789",
        "0",
        "2021-03-26",
        "EUR",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        4,
        2,
    ),
    (
        "en16931-cii/CII_business_example_01.xml",
        "cii",
        "NO123456789MVA",
        "TOSL108",
        "2013-06-30",
        "NOK",
        "1436.50",
        "1436.50",
        "365.28",
        "1801.78",
        "801.78",
        5,
        3,
    ),
    (
        "en16931-cii/CII_business_example_02.xml",
        "cii",
        "DE1111111",
        "INV000013",
        "2013-08-25",
        "EUR",
        "10.00",
        "10.00",
        "1.90",
        "11.90",
        "11.90",
        3,
        1,
    ),
    (
        "en16931-cii/CII_business_example_Z.xml",
        "cii",
        "DE37/302/30168",
        "2016166",
        "2015-01-09",
        "EUR",
        "11693.87",
        "11693.87",
        "0.00",
        "11693.87",
        "11693.87",
        3,
        1,
    ),
    (
        "en16931-cii/CII_example1.xml",
        "cii",
        "NL8200.98.395.B.01",
        "12115118",
        "2015-01-09",
        "EUR",
        "229.60",
        "229.60",
        "20.73",
        "250.33",
        "250.33",
        20,
        2,
    ),
    (
        "en16931-cii/CII_example2.xml",
        "cii",
        "NO123456789MVA",
        "TOSL108",
        "2013-06-30",
        "NOK",
        "1436.50",
        "1436.50",
        "365.28",
        "1801.78",
        "801.78",
        5,
        3,
    ),
    (
        "en16931-cii/CII_example3.xml",
        "cii",
        "DK16356706",
        "TOSL108",
        "2013-04-10",
        "DKK",
        "800.00",
        "900.00",
        "225.00",
        "1125.00",
        "1125.00",
        1,
        1,
    ),
    (
        "en16931-cii/CII_example4.xml",
        "cii",
        "DK16356706",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "4675.00",
        3,
        2,
    ),
    (
        "en16931-cii/CII_example5.xml",
        "cii",
        "NL16356706",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "2337.50",
        3,
        2,
    ),
    (
        "en16931-cii/CII_example6.xml",
        "cii",
        "DK123456789MVA",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "4675.00",
        3,
        2,
    ),
    (
        "en16931-cii/CII_example7.xml",
        "cii",
        "5532331183",
        "INVOICE_test_7",
        "2013-05-13",
        "SEK",
        "3200.00",
        "3200.00",
        "0.00",
        "3200.00",
        "3200.00",
        2,
        1,
    ),
    (
        "en16931-cii/CII_example8.xml",
        "cii",
        "NL809561074B01",
        "1100512149",
        "2014-11-10",
        "EUR",
        "908.91",
        "908.91",
        "190.87",
        "1099.78",
        "1099.78",
        10,
        1,
    ),
    (
        "en16931-cii/CII_example9.xml",
        "cii",
        "NL809163160B01",
        "20150483",
        "2015-04-01",
        "EUR",
        "147.00",
        "147.00",
        "30.87",
        "177.87",
        "177.87",
        1,
        1,
    ),
    (
        "en16931-cii/XRechnung-O.xml",
        "cii",
        "XX",
        "150377292",
        "2021-01-14",
        "EUR",
        "336300.95",
        "385544.60",
        "0.00",
        "385544.60",
        "385544.60",
        2,
        1,
    ),
    (
        "en16931-cii/huf_example_cii.xml",
        "cii",
        "HU30048650",
        "21/001003559/996",
        "2021-10-05",
        "HUF",
        "69180.00",
        "69180.00",
        "18679.00",
        "87859.00",
        "87859.00",
        3,
        1,
    ),
    (
        "en16931-ubl/BIS3_Invoice_negativ.XML",
        "ubl",
        "DK12345678",
        "12345",
        "2019-01-25",
        "DKK",
        "-625743.54",
        "-625743.54",
        "-156435.89",
        "-782179.43",
        "-782179.43",
        1,
        1,
    ),
    (
        "en16931-ubl/BIS3_Invoice_positive.XML",
        "ubl",
        "DK12345678",
        "12345",
        "2019-01-25",
        "DKK",
        "625743.54",
        "625743.54",
        "156435.89",
        "782179.43",
        "782179.43",
        1,
        1,
    ),
    (
        "en16931-ubl/guide-example1.xml",
        "ubl",
        "NL8200.98.395.B.01",
        "12115118",
        "2015-01-09",
        "EUR",
        "229.60",
        "229.60",
        "20.73",
        "250.33",
        "250.33",
        20,
        2,
    ),
    (
        "en16931-ubl/guide-example2.xml",
        "ubl",
        "NO123456789MVA",
        "TOSL108",
        "2013-06-30",
        "NOK",
        "1436.50",
        "1436.50",
        "365.28",
        "1801.78",
        "801.78",
        5,
        3,
    ),
    (
        "en16931-ubl/guide-example3.xml",
        "ubl",
        "DK16356706",
        "TOSL108",
        "2013-04-10",
        "DKK",
        "800.00",
        "900.00",
        "225.00",
        "1125.00",
        "1125.00",
        2,
        1,
    ),
    (
        "en16931-ubl/issue116.xml",
        "ubl",
        "SE123456789001",
        "2018210",
        "2018-02-08",
        "SEK",
        "700.00",
        "700.00",
        "130.00",
        "830.00",
        "830.00",
        4,
        4,
    ),
    (
        "en16931-ubl/sample-discount-price.xml",
        "ubl",
        "HR46830600751",
        "test decimal 1",
        "2018-02-05",
        "EUR",
        "12.12",
        "12.12",
        "3.03",
        "15.15",
        "15.15",
        1,
        1,
    ),
    (
        "en16931-ubl/ubl-tc434-creditnote1.xml",
        "ubl",
        "BE0000000196",
        "018304 / 28865",
        "2019-09-23",
        "EUR",
        "100.11",
        "100.11",
        "0.00",
        "100.11",
        "100.11",
        1,
        1,
    ),
    (
        "en16931-ubl/ubl-tc434-example1.xml",
        "ubl",
        "NL8200.98.395.B.01",
        "12115118",
        "2015-01-09",
        "EUR",
        "229.60",
        "229.60",
        "20.73",
        "250.33",
        "250.33",
        20,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example10.xml",
        "ubl",
        "NL8200.98.395.B.01",
        "12115118",
        "2015-01-09",
        "EUR",
        "229.60",
        "229.60",
        "20.73",
        "250.33",
        "250.33",
        20,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example2.xml",
        "ubl",
        "NO123456789MVA",
        "TOSL108",
        "2013-06-30",
        "NOK",
        "1436.50",
        "1436.50",
        "365.28",
        "1801.78",
        "801.78",
        5,
        3,
    ),
    (
        "en16931-ubl/ubl-tc434-example3.xml",
        "ubl",
        "DK16356706",
        "TOSL108",
        "2013-04-10",
        "DKK",
        "1600.00",
        "1700.00",
        "305.00",
        "2005.00",
        "2005.00",
        2,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example4.xml",
        "ubl",
        "DK16356706",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "4675.00",
        3,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example5.xml",
        "ubl",
        "NL16356706",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "2337.50",
        3,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example6.xml",
        "ubl",
        "DK123456789MVA",
        "TOSL110",
        "2013-04-10",
        "DKK",
        "4000.00",
        "4000.00",
        "675.00",
        "4675.00",
        "4675.00",
        3,
        2,
    ),
    (
        "en16931-ubl/ubl-tc434-example7.xml",
        "ubl",
        "5532331183",
        "INVOICE_test_7",
        "2013-03-11",
        "SEK",
        "3200.00",
        "3200.00",
        "0.00",
        "3200.00",
        "3200.00",
        2,
        1,
    ),
    (
        "en16931-ubl/ubl-tc434-example8.xml",
        "ubl",
        "NL809561074B01",
        "1100512149",
        "2014-11-10",
        "EUR",
        "908.91",
        "908.91",
        "190.87",
        "1099.78",
        "1099.78",
        10,
        1,
    ),
    (
        "en16931-ubl/ubl-tc434-example9.xml",
        "ubl",
        "NL809163160B01",
        "20150483",
        "2015-04-01",
        "EUR",
        "147.00",
        "147.00",
        "30.87",
        "177.87",
        "177.87",
        1,
        1,
    ),
    (
        "factur-x/factur-x-basic.xml",
        "cii",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "95.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        3,
        4,
    ),
    (
        "factur-x/factur-x-basicwl.xml",
        "cii",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "95.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        0,
        4,
    ),
    (
        "factur-x/factur-x-en16931.xml",
        "cii",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "95.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        3,
        4,
    ),
    (
        "factur-x/factur-x-extended.xml",
        "cii",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "95.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        3,
        4,
    ),
    (
        "factur-x/factur-x-minimum.xml",
        "cii",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "100.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        0,
        0,
    ),
    (
        "factur-x/invoice_EN16931.pdf",
        "factur-x",
        "FR11123456782",
        "F20260023",
        "2026-01-31",
        "EUR",
        "95.00",
        "100.00",
        "4.90",
        "104.90",
        "104.90",
        3,
        4,
    ),
    (
        "factur-x/ubl-21-en16931.xml",
        "ubl",
        "FR11999999998",
        "F124212",
        "2026-06-17",
        "EUR",
        "273.00",
        "273.00",
        "35.03",
        "308.03",
        "208.03",
        2,
        2,
    ),
    (
        "factur-x/ubl-21-extended-ctc-fr.xml",
        "ubl",
        "FR11999999998",
        "F124212",
        "2026-06-17",
        "EUR",
        "273.00",
        "273.00",
        "35.03",
        "308.03",
        "208.03",
        2,
        2,
    ),
    (
        "xrechnung/01.05_minimal_test_ubl.xml",
        "ubl",
        "9876543217894897438",
        "1234567",
        "2018-04-13",
        "EUR",
        "4743.75",
        "4743.75",
        "0.00",
        "4743.75",
        "4743.75",
        1,
        1,
    ),
    (
        "xrechnung/01.05_minimal_test_uncefact.xml",
        "cii",
        "9876543217894897438",
        "1234567",
        "2018-04-13",
        "EUR",
        "4743.75",
        "4743.75",
        "0.00",
        "4743.75",
        "4743.75",
        1,
        1,
    ),
    (
        "xrechnung/01.06_minimal_test_ubl.xml",
        "ubl",
        "ATU123456789",
        "1234567",
        "2018-04-13",
        "EUR",
        "3986.34",
        "3986.34",
        "757.41",
        "4743.75",
        "4743.75",
        1,
        1,
    ),
    (
        "xrechnung/01.06_minimal_test_uncefact.xml",
        "cii",
        "ATU123456789",
        "1234567",
        "2018-04-13",
        "EUR",
        "3986.34",
        "3986.34",
        "757.41",
        "4743.75",
        "4743.75",
        1,
        1,
    ),
    (
        "xrechnung/02.01a-cvd_INVOICE_uncefact.xml",
        "cii",
        "ATU123456789",
        "1234567",
        "2018-04-13",
        "EUR",
        "10781250.00",
        "10781250.00",
        "2048437.50",
        "12829687.50",
        "12829687.50",
        2,
        2,
    ),
    (
        "xrechnung/03.06a-INVOICE_uncefact.xml",
        "cii",
        "DE12345464867",
        "112233",
        "2021-04-23",
        "EUR",
        "1500.00",
        "1500.00",
        "304.00",
        "1804.00",
        "1804.00",
        4,
        2,
    ),
]
UNSUPPORTED = [
    "factur-x/order-x-basic.xml",
    "factur-x/order-x-comfort.xml",
    "factur-x/zugferd-basic.xml",
    "factur-x/zugferd-comfort.xml",
    "factur-x/zugferd-extended.xml",
]


def load(name: str) -> Invoice | Rejection:
    return judge(read_einvoice((DATA / name).read_bytes(), max_bytes=MAX))


def loaded(name: str) -> Invoice:
    result = load(name)
    assert isinstance(result, Invoice), (name, result)
    return result


@pytest.mark.parametrize(
    "name",
    [
        "xrechnung/01.05_minimal_test_uncefact.xml",
        "xrechnung/01.06_minimal_test_uncefact.xml",
        "xrechnung/02.01a-cvd_INVOICE_uncefact.xml",
    ],
)
def test_xrechnung_quantities_beyond_10_decimals_load_as_the_number_written(name: str) -> None:
    """XRechnung's test suite writes `30.00000000000` (11 decimals): the number 30, stored
    with the 10 decimals the column keeps (SPEC 4), never `bad_number`."""
    invoice = loaded(name)
    assert invoice.items[0].quantity == Decimal(30)
    assert invoice.items[0].quantity.as_tuple().exponent == -10


def test_every_sample_is_covered() -> None:
    """A file added to tests/data/einvoices without an expectation fails here."""
    files = {
        str(p.relative_to(DATA)) for p in DATA.glob("*/*") if p.suffix.lower() in (".xml", ".pdf")
    }
    assert files == {row[0] for row in INVOICES} | set(UNSUPPORTED)


@pytest.mark.parametrize("row", INVOICES, ids=[row[0] for row in INVOICES])
def test_sample_loads_with_the_values_it_states(row: tuple[object, ...]) -> None:
    name, fmt, issuer, number, issued, currency, amount, net, tax, total, payable, n, t = row
    invoice = loaded(str(name))
    assert invoice.format == Format(fmt)
    assert invoice.issuer_key == issuer
    assert invoice.invoice_id == number
    assert invoice.invoice_date == date.fromisoformat(str(issued))
    assert invoice.currency == currency
    assert invoice.amount == Decimal(str(amount))
    assert invoice.net_total == Decimal(str(net))
    assert invoice.tax_total == Decimal(str(tax))
    assert invoice.total == Decimal(str(total))
    assert invoice.payable == Decimal(str(payable))
    assert len(invoice.items) == n
    assert len(invoice.taxes) == t
    assert invoice.total_in_words is None
    # Money keeps two decimals, as the tables and the CSV print it.
    assert invoice.payable.as_tuple().exponent == -2


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_order_x_and_zugferd_1_are_unsupported(name: str) -> None:
    result = load(name)
    assert isinstance(result, Rejection)
    assert result.reasons == (Reason.UNSUPPORTED_FORMAT,)


def test_zugferd_1_and_order_x_say_what_they_are() -> None:
    zugferd = load("factur-x/zugferd-basic.xml")
    order = load("factur-x/order-x-basic.xml")
    assert isinstance(zugferd, Rejection) and isinstance(order, Rejection)
    assert "ZUGFeRD 1.0" in zugferd.details[0]
    assert "Order-X" in order.details[0]


def test_br_co_10_rounding_issue_sums_exactly_to_zero() -> None:
    """The CEN's file made to show binary floating point failing BR-CO-10."""
    invoice = loaded("en16931-cii/CII-BR-CO-10-RoundingIssue.xml")
    assert [i.amount for i in invoice.items] == [
        Decimal("720.81"),
        Decimal("0.01"),
        Decimal("-720.81"),
        Decimal("-0.01"),
    ]
    assert sum(i.amount for i in invoice.items) == invoice.amount == Decimal("0.00")
    # The seller's VAT id is written "DE 123 456 789": the key drops the blanks.
    assert invoice.seller_tax_id == "DE 123 456 789"
    assert invoice.issuer_key == "DE123456789"
    assert invoice.customer_id == "1"


def test_factur_x_pdf_reads_its_embedded_cii() -> None:
    invoice = loaded("factur-x/invoice_EN16931.pdf")
    same_xml = loaded("factur-x/factur-x-en16931.xml")
    assert invoice.format == Format.FACTUR_X
    assert same_xml.format == Format.CII
    assert invoice.items == same_xml.items
    assert invoice.taxes == same_xml.taxes
    assert (invoice.seller, invoice.buyer) == ("LE FOURNISSEUR", "LE CLIENT")


def test_factur_x_basic_lines_taxes_allowances() -> None:
    invoice = loaded("factur-x/factur-x-basic.xml")
    assert invoice.profile == "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"
    assert invoice.due_date == date(2026, 3, 2)
    assert (invoice.allowance_total, invoice.charge_total) == (Decimal("9.00"), Decimal("14.00"))
    assert invoice.buyer_tax_id == "FR 05 987 654 321"
    assert invoice.items[0] == Item(
        line_no=1,
        description="PRESTATION SUPPORT",
        amount=Decimal("60.00"),
        tax=None,
        line_id="1",
        quantity=Decimal("1.0000"),
        unit_code="C62",
        unit_price=Decimal("60.0000"),
        tax_category="E",
        tax_rate=Decimal("0.00"),
    )
    assert invoice.taxes[0] == Tax(
        kind="VAT",
        amount=Decimal("2.20"),
        category="S",
        rate=Decimal("20.00"),
        taxable_amount=Decimal("11.00"),
    )
    # Two S rows at different rates, and E and K rows.
    assert [(t.category, t.rate) for t in invoice.taxes] == [
        ("S", Decimal("20.00")),
        ("E", Decimal("0.00")),
        ("S", Decimal("10.00")),
        ("K", Decimal("0.00")),
    ]


def test_minimum_profile_takes_bt_106_from_the_tax_basis() -> None:
    """Factur-X MINIMUM has no lines and no BT-106: `amount` is BT-109 (SPEC 2.3)."""
    invoice = loaded("factur-x/factur-x-minimum.xml")
    assert invoice.items == ()
    assert invoice.taxes == ()
    assert invoice.amount == invoice.net_total == Decimal("100.00")
    assert invoice.profile == "urn:factur-x.eu:1p0:minimum"
    assert invoice.customer_id is None


def test_basic_wl_has_totals_and_breakdown_but_no_lines() -> None:
    invoice = loaded("factur-x/factur-x-basicwl.xml")
    assert invoice.items == ()
    assert invoice.amount == Decimal("95.00")
    assert sum(t.amount for t in invoice.taxes) == invoice.tax_total


def test_ubl_credit_note() -> None:
    invoice = loaded("en16931-ubl/ubl-tc434-creditnote1.xml")
    assert invoice.document_type == DocumentType.CREDIT_NOTE
    assert invoice.type_code == "381"
    assert invoice.invoice_id == "018304 / 28865"
    assert invoice.due_date is None
    assert invoice.items[0].quantity == Decimal("1.00")
    assert invoice.items[0].unit_code == "C62"
    assert invoice.items[0].description == "Exonération du versement du PP"


def test_ubl_invoice_details() -> None:
    invoice = loaded("en16931-ubl/ubl-tc434-example2.xml")
    assert invoice.document_type == DocumentType.INVOICE
    assert invoice.type_code == "380"
    assert invoice.profile == "urn:cen.eu:en16931:2017"
    assert invoice.seller == "Salescompany ltd."
    assert invoice.buyer == "The Buyercompany"
    assert invoice.customer_id == "3456789012098"
    assert (invoice.seller_tax_id, invoice.buyer_tax_id) == ("NO123456789MVA", "NO987654321MVA")
    assert invoice.due_date == date(2013, 7, 20)
    assert (invoice.allowance_total, invoice.charge_total) == (Decimal("100.00"), Decimal("100.00"))
    assert (invoice.prepaid, invoice.rounding) == (Decimal("1000.00"), Decimal("0.00"))
    assert invoice.items[1].amount == Decimal("-3.96")  # a returned book: a negative line
    assert invoice.items[1].quantity == Decimal("-1.0")
    assert invoice.taxes[2] == Tax("VAT", Decimal("0.00"), "E", Decimal("0.0"), Decimal("-25.00"))


def test_negative_peppol_invoice_loads() -> None:
    invoice = loaded("en16931-ubl/BIS3_Invoice_negativ.XML")
    assert invoice.payable == Decimal("-782179.43")
    assert invoice.due_date == date(2019, 2, 24)
    assert invoice.document_type == DocumentType.INVOICE


def test_huf_invoice_with_slashes_in_its_number() -> None:
    invoice = loaded("en16931-cii/huf_example_cii.xml")
    assert invoice.invoice_id == "21/001003559/996"
    assert invoice.currency == "HUF"


def test_prepaid_amounts_make_the_amount_due_differ() -> None:
    for name in ("en16931-cii/CII_example5.xml", "en16931-ubl/ubl-tc434-example5.xml"):
        invoice = loaded(name)
        assert invoice.total - invoice.prepaid + invoice.rounding == invoice.payable
        assert invoice.prepaid == Decimal("2337.50")


def test_summary_names_the_invoice_as_written() -> None:
    doc = read_einvoice((DATA / "en16931-cii/huf_example_cii.xml").read_bytes(), max_bytes=MAX)
    assert doc.invoice_id == "21/001003559/996"
    assert "21/001003559/996" in doc.summary
    assert doc.format == Format.CII
