"""The syntax of SPEC section 2. Each tolerance is a variant of the sample that must still
give the sample's invoice; parse() alone is checked where validation would hide the point."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docproc.formats import text as parser
from docproc.formats.document import FIELD_NAMES, ParsedDocument, RawItem
from docproc.formats.text import KEY_SYNONYMS, TAX_KINDS, parse
from docproc.models import Invoice, Reason, Rejection
from docproc.rules.text import validate
from tests.support.catch_all import no_bug_caught

Variant = Callable[..., bytes]


def accepted(data: bytes) -> Invoice:
    result = validate(parse(data))
    assert isinstance(result, Invoice), result
    return result


def assert_is_the_sample(invoice: Invoice) -> None:
    assert (invoice.customer_id, invoice.invoice_id) == ("sm-LK0080145", "inv-00001")
    assert invoice.invoice_date == date(2018, 3, 31)
    assert (invoice.amount, invoice.tax_total, invoice.total) == (
        Decimal("7650.00"),
        Decimal("500.00"),
        Decimal("8150.00"),
    )
    assert [i.amount for i in invoice.items] == [Decimal(v) for v in (2000, 3100, 500, 1200, 850)]


def test_sample_file_loads(sample_file: bytes, sample_text: str) -> None:
    assert sample_file.decode() == sample_text, "conftest.SAMPLE no longer matches the file"
    doc = parse(sample_file)
    assert doc.problems == ()
    assert doc.currency is None
    assert doc.taxes == (("SGST", "500"),)
    assert doc.fields == {
        "customer_id": "sm-LK0080145",
        "invoice_id": "inv-00001",
        "date": "Mar 31 2018",
        "seller": "Space Mechanics Inc.",
        "buyer": "Starfleet Interplanatory HQ",
        "amount": "7650",
        "total": "8150",
        "in_words": "Space Rupees Eight thousand one hundred fifty only",
    }
    assert doc.items[0] == RawItem(1, "Matter antimatter fusion controller", "2000", "200")
    assert doc.items[4] == RawItem(5, "Transporter base dial", "850", None)
    assert len(doc.items) == 5
    invoice = accepted(sample_file)
    assert_is_the_sample(invoice)
    assert invoice.currency is None
    assert [(t.kind, t.amount) for t in invoice.taxes] == [("SGST", Decimal("500.00"))]


def test_field_names_and_synonyms() -> None:
    assert set(KEY_SYNONYMS.values()) == set(FIELD_NAMES)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Inv-ID:", "Invoice-ID:"),
        ("Inv-ID:", "Invoice No:"),
        ("Inv-ID:", "Invoice No.:"),
        ("Dated:", "Date:"),
        ("From:", "Seller:"),
        ("To:", "Buyer:"),
        ("To:", "Bill To:"),
        ("Amount:", "Subtotal:"),
        ("InWords:", "Amount In Words:"),
        ("Customer-ID: ", "customer-id   :   "),
        ("Total: ", "TOTAL :"),
        ("Amount: 7650", "Amount:7650"),
        ("Dated:", "DATED\t:"),
    ],
)
def test_key_synonyms_case_and_spacing(variant: Variant, old: str, new: str) -> None:
    assert_is_the_sample(accepted(variant((old, new))))


@pytest.mark.parametrize("kind", [*TAX_KINDS, "Tax", "sgst", "Vat"])
def test_each_tax_kind(variant: Variant, kind: str) -> None:
    invoice = accepted(variant(("SGST:", f"{kind}:")))
    assert [(t.kind, t.amount) for t in invoice.taxes] == [(kind.upper(), Decimal("500.00"))]


def test_several_tax_lines_sum_in_order(variant: Variant) -> None:
    doc = parse(variant(("SGST: 500", "CGST: 200\nSGST: 250\nCGST: 50")))
    assert doc.taxes == (("CGST", "200"), ("SGST", "250"), ("CGST", "50"))
    invoice = accepted(variant(("SGST: 500", "CGST: 200\nSGST: 250\nCGST: 50")))
    assert [(t.kind, t.amount) for t in invoice.taxes] == [
        ("CGST", Decimal("250.00")),
        ("SGST", Decimal("250.00")),
    ]


def test_items_with_commas(variant: Variant) -> None:
    data = variant(
        ("; 2000; 200", ", 2000, 200"),
        ("Transporter base dial; 850", "Transporter, base, dial, 850"),
    )
    doc = parse(data)
    assert doc.items[0] == RawItem(1, "Matter antimatter fusion controller", "2000", "200")
    assert doc.items[4] == RawItem(5, "Transporter, base, dial", "850", None)
    assert_is_the_sample(accepted(data))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Bolts, 120", ("Bolts", "120", None)),
        ("Bolts, 120, 12", ("Bolts", "120", "12")),
        ("Bolts, M8, 120, 12", ("Bolts, M8", "120", "12")),
        ("Bolts, size 8, 120", ("Bolts, size 8", "120", None)),
        ("Bolts, Rs 120, Rs 12", ("Bolts", "Rs 120", "Rs 12")),
        ("Bolts, 120,", ("Bolts", "120", None)),
        ("Bolts; 1,200; 12", ("Bolts", "1,200", "12")),
        ("Bolts; M8; 1,200; 12", ("Bolts; M8", "1,200", "12")),
        ("Bolts: M8, 120", ("Bolts: M8", "120", None)),
        ("Bolts; 120;", ("Bolts", "120", None)),
    ],
)
def test_item_splitting(line: str, expected: tuple[str, str, str | None]) -> None:
    doc = parse(f"Items\n1) {line}\n".encode())
    assert [(i.description, i.amount, i.tax) for i in doc.items] == [expected]


@pytest.mark.parametrize("label", ["1)", "1.", "1 )", "01)"])
def test_item_labels(label: str) -> None:
    doc = parse(f"Items\n{label} Bolts; 120\n".encode())
    assert doc.items == (RawItem(1, "Bolts", "120", None),)


def test_line_no_is_the_position_not_the_label() -> None:
    doc = parse(b"Items\n7) a; 1\n7) b; 2\n\n1) c; 3\n")
    assert [(i.line_no, i.description) for i in doc.items] == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize("heading", ["Items", "ITEMS", "items:", "Items :"])
def test_items_heading(variant: Variant, heading: str) -> None:
    assert len(parse(variant(("\nItems\n", f"\n{heading}\n"))).items) == 5


def test_item_lines_before_the_heading_are_not_items(variant: Variant) -> None:
    assert parse(variant(("\nItems\n", "\n"))).items == ()


def test_headers_after_the_items_are_read(variant: Variant) -> None:
    data = variant(("Total: 8150\n", ""), ("; 850\n", "; 850\nTotal: 8150\n"))
    assert_is_the_sample(accepted(data))


def test_banner_and_unknown_lines_are_ignored(variant: Variant) -> None:
    data = variant(
        ("Dated:", "Note: paid by warp transfer\nsome stray text\nDated:"),
        ("; 850\n", "; 850\n*** Invoice ***\n* * *\nRemark: thank you\n"),
    )
    assert_is_the_sample(accepted(data))


@pytest.mark.parametrize(
    ("mark", "iso"),
    [
        ("₹", "INR"),
        ("Rs", "INR"),
        ("Rs.", "INR"),
        ("INR", "INR"),
        ("$", "USD"),
        ("USD", "USD"),
        ("€", "EUR"),
        ("EUR", "EUR"),
    ],
)
@pytest.mark.parametrize("where", ["{m}{v}", "{m} {v}", "{v}{m}", "{v} {m}"])
def test_each_currency_mark_before_and_after(
    variant: Variant, mark: str, iso: str, where: str
) -> None:
    data = variant(
        ("Amount: 7650", f"Amount: {where.format(m=mark, v='7650')}"),
        ("Total: 8150", f"Total: {where.format(m=mark, v='8150')}"),
    )
    invoice = accepted(data)
    assert_is_the_sample(invoice)
    assert invoice.currency == iso


@pytest.mark.parametrize(
    ("replacements", "iso"),
    [
        ([("SGST: 500", "SGST: $500"), ("Total: 8150", "Total: Rs 8150")], "USD"),
        ([("; 3100; 180", "; 3100; €180")], "EUR"),
        ([("; 3100; 180", "; €3100; 180"), ("Total: 8150", "Total: 8150 INR")], "INR"),
    ],
)
def test_first_currency_mark_in_document_order(
    variant: Variant, replacements: list[tuple[str, str]], iso: str
) -> None:
    assert parse(variant(*replacements)).currency == iso


def test_digit_grouping(variant: Variant) -> None:
    data = variant(("Amount: 7650", "Amount: 7,650"), ("Total: 8150", "Total: 8,150"))
    assert_is_the_sample(accepted(data))


def test_indian_digit_grouping(variant: Variant) -> None:
    data = variant(
        ("Amount: 7650", "Amount: 1,00,000"),
        ("Total: 8150", "Total: 1,00,500.00"),
        ("Eight thousand one hundred fifty", "One lakh five hundred"),
        ("dial; 850", "dial; 93,200"),
    )
    invoice = accepted(data)
    assert (invoice.amount, invoice.total) == (Decimal("100000.00"), Decimal("100500.00"))


@pytest.mark.parametrize(
    "form",
    [
        "Mar 31 2018",
        "March 31, 2018",
        "31 Mar 2018",
        "31-Mar-2018",
        "2018-03-31",
        "31/03/2018",
        "31.03.2018",
    ],
)
def test_every_date_form(variant: Variant, form: str) -> None:
    assert_is_the_sample(accepted(variant(("Dated: Mar 31 2018", f"Dated: {form}"))))


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("UTF-8 with BOM", lambda t: codecs.BOM_UTF8 + t.encode()),
        ("UTF-16 LE with BOM", lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le")),
        ("UTF-16 BE with BOM", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be")),
        ("CRLF", lambda t: t.replace("\n", "\r\n").encode()),
        ("CR", lambda t: t.replace("\n", "\r").encode()),
        ("indentation", lambda t: "".join(f" \t {line} \t\n" for line in t.splitlines()).encode()),
        ("no final newline", lambda t: t.rstrip("\n").encode()),
        ("blank lines", lambda t: t.replace("\n", "\n\n  \n").encode()),
    ],
)
def test_encodings_and_line_ends(
    sample_text: str, name: str, encode: Callable[[str], bytes]
) -> None:
    assert_is_the_sample(accepted(encode(sample_text)))


def test_non_ascii_text_survives(variant: Variant) -> None:
    data = variant(("From: Space Mechanics Inc.", "From: Mécanique Spatiale ₹ 株式会社"))
    assert accepted(data).seller == "Mécanique Spatiale ₹ 株式会社"


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode() + b"\x00",
        lambda t: t.encode("latin-1", "replace") + b"\xff\xfe",  # not UTF-8
        lambda t: codecs.BOM_UTF8 + t.encode() + b"\xc3",  # a truncated sequence
        lambda t: t.encode("utf-16-le"),  # UTF-16 without BOM: NUL bytes
        lambda t: t.encode("utf-16") + b"A",  # odd length
        lambda t: t.encode("utf-16") + "\ud800".encode("utf-16-le", "surrogatepass"),
        lambda t: t.encode("utf-32"),  # its BOM starts like UTF-16's, then NULs
    ],
)
def test_not_text(sample_text: str, encode: Callable[[str], bytes]) -> None:
    assert [p.reason for p in parse(encode(sample_text)).problems] == [Reason.NOT_TEXT]


@pytest.mark.parametrize(
    "data", [b"", b"\n\n", b"  \t \r\n \n", codecs.BOM_UTF8, codecs.BOM_UTF16_BE + b"\x00 "]
)
def test_empty_document(data: bytes) -> None:
    assert [p.reason for p in parse(data).problems] == [Reason.EMPTY_DOCUMENT]


def test_duplicate_field(variant: Variant) -> None:
    doc = parse(variant(("Total: 8150", "Total: 8150\nTOTAL: 9000")))
    assert [p.reason for p in doc.problems] == [Reason.DUPLICATE_FIELD]
    assert "'8150' and '9000'" in doc.problems[0].detail
    assert doc.fields["total"] == "8150"


@pytest.mark.parametrize(
    "replacement",
    [
        ("Total: 8150", "Total: 8150\nTotal:  8150"),  # the same value twice
        ("Dated: Mar 31 2018", "Dated: Mar 31 2018\nDate: Mar 31 2018"),  # through a synonym
        ("Total: 8150", "Total:\nTotal: 8150"),  # a blank value, then the value
        ("Total: 8150", "Total: 8150\nTotal:"),  # the value, then a blank one
        ("SGST: 500", "SGST: 500\nCGST:"),  # a blank tax line is no tax
    ],
)
def test_not_duplicates(variant: Variant, replacement: tuple[str, str]) -> None:
    assert_is_the_sample(accepted(variant(replacement)))


def test_synonyms_with_different_values_are_duplicates(variant: Variant) -> None:
    doc = parse(variant(("To: Starfleet", "Bill To: Vulcan Science Academy\nTo: Starfleet")))
    assert [p.reason for p in doc.problems] == [Reason.DUPLICATE_FIELD]


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("5) Transporter base dial", "item 5 has no amount"),
        ("5) Transporter base dial;", "item 5 has no amount"),
        ("5) Transporter base dial; ; 3", "item 5 has no amount"),
        ("Transporter base dial; 850", "line 19 in the Items section is not an item line"),
    ],
)
def test_unreadable_item_lines(variant: Variant, line: str, detail: str) -> None:
    doc = parse(variant(("5) Transporter base dial; 850", line)))
    assert [p.reason for p in doc.problems] == [Reason.BAD_NUMBER]
    assert detail in doc.problems[0].detail
    assert len(doc.items) == 4


def test_parse_survives_a_wrong_argument() -> None:
    doc = parse(None)  # type: ignore[arg-type]
    assert [p.reason for p in doc.problems] == [Reason.NOT_TEXT]


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    with no_bug_caught():
        doc = parse(data)
        result = validate(doc)
    assert isinstance(result, Invoice | Rejection)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_utf8_text_never_raises(text: str) -> None:
    with no_bug_caught():
        doc = parse(text.encode("utf-8"))
        result = validate(doc)
    assert isinstance(result, Invoice | Rejection)


LINES = st.sampled_from(
    [
        "*****",
        "Customer-ID: sm-LK0080145",
        "Inv-ID: inv-00001",
        "Dated: Mar 31 2018",
        "From: Space Mechanics Inc.",
        "To: Starfleet Interplanatory HQ",
        "Amount: 7650",
        "SGST: 500",
        "Total: 8150",
        "Total: Rs 1",
        "InWords: one lakh",
        "",
        "Items",
        "1) Type X phaser; 500; 35",
        "2) x, 1, 2",
        "3) y",
        "SGST: -1",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]))
def test_shuffled_sample_lines_never_raise(lines: list[str], newline: str) -> None:
    with no_bug_caught():
        doc = parse(newline.join(lines).encode())
        result = validate(doc)
    assert Reason.NOT_TEXT not in {p.reason for p in doc.problems}
    if isinstance(result, Rejection):
        assert result.reasons


def test_the_property_tests_fail_when_parse_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tests above would see if parse()'s insides raised: a failure, not a pass."""

    def broken(text: str) -> ParsedDocument:
        raise RuntimeError("a bug")

    monkeypatch.setattr(parser, "_read", broken)
    with pytest.raises(AssertionError, match="a catch-all caught a bug"), no_bug_caught():
        parse(b"Inv-ID: inv-00001")


def test_a_flood_of_bad_lines_is_reported_by_example(variant: Variant) -> None:
    doc = parse(variant(("; 850\n", "; 850\n" + "oops\n" * 100)))
    assert len(doc.problems) == 21
    assert doc.problems[-1].detail == "... and 80 more bad_number problems like these"
