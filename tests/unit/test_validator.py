"""The rules of SPEC section 3, each broken alone in a variant of the sample, then together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docproc.formats.document import FIELD_NAMES, ParsedDocument, RawItem, oversized
from docproc.formats.text import parse
from docproc.models import Invoice, Item, Reason, Rejection, Tax
from docproc.rules import text as validator
from docproc.rules.text import validate
from tests.support.catch_all import no_bug_caught

Variant = Callable[..., bytes]


def rejected(data: bytes) -> Rejection:
    result = validate(parse(data))
    assert isinstance(result, Rejection), result
    return result


def test_sample_becomes_an_invoice(variant: Variant) -> None:
    assert validate(parse(variant())) == Invoice(
        customer_id="sm-LK0080145",
        invoice_id="inv-00001",
        invoice_date=date(2018, 3, 31),
        seller="Space Mechanics Inc.",
        buyer="Starfleet Interplanatory HQ",
        currency=None,
        amount=Decimal("7650.00"),
        tax_total=Decimal("500.00"),
        total=Decimal("8150.00"),
        total_in_words="Space Rupees Eight thousand one hundred fifty only",
        items=(
            Item(1, "Matter antimatter fusion controller", Decimal("2000.00"), Decimal("200.00")),
            Item(2, "External inertial damper", Decimal("3100.00"), Decimal("180.00")),
            Item(3, "Type X phaser", Decimal("500.00"), Decimal("35.00")),
            Item(4, "2MW Fusion reactor", Decimal("1200.00"), Decimal("85.00")),
            Item(5, "Transporter base dial", Decimal("850.00"), None),
        ),
        taxes=(Tax("SGST", Decimal("500.00")),),
    )


# One variant per reason code, each breaking exactly one rule.
BROKEN: list[tuple[Reason, list[tuple[str, str]], str]] = [
    (Reason.MISSING_FIELD, [("Dated: Mar 31 2018\n", "")], "Dated is missing"),
    (Reason.MISSING_FIELD, [("To: Starfleet Interplanatory HQ", "To:   ")], "To is missing"),
    (
        Reason.DUPLICATE_FIELD,
        [("Dated: Mar 31 2018", "Dated: Mar 31 2018\nDate: 1 Apr 2018")],
        "'Mar 31 2018' and '1 Apr 2018'",
    ),
    # SPEC v2: spaces and '/' are allowed in ids; non-ASCII is not.
    (Reason.BAD_ID, [("inv-00001", "inv–00001")], "Inv-ID 'inv–00001'"),
    (Reason.BAD_ID, [("sm-LK0080145", "...")], "Customer-ID '...'"),
    (Reason.BAD_ID, [("sm-LK0080145", "x" * 65)], "1 to 64 characters"),
    (Reason.BAD_NUMBER, [("Amount: 7650", "Amount: 7,65,0")], "Amount: '7,65,0' is not a number"),
    (Reason.BAD_NUMBER, [("SGST: 500", "SGST: 5OO")], "SGST tax line: '5OO' is not a number"),
    (
        Reason.BAD_NUMBER,
        [("; 3100; 180", "; 3100; 18.000")],
        "item 2 tax: '18.000' is not a number",
    ),
    (Reason.BAD_NUMBER, [("Total: 8150", "Total: 12345678901234")], "more than 13 integer digits"),
    (Reason.BAD_NUMBER, [("dial; 850", "dial")], "item 5 has no amount"),
    (
        Reason.BAD_DATE,
        [("Mar 31 2018", "Feb 30 2018")],
        "Dated: 'Feb 30 2018' is not a real calendar date",
    ),
    (Reason.BAD_DATE, [("Mar 31 2018", "the last of March")], "not a date in a form"),
    (
        Reason.NEGATIVE_AMOUNT,
        [("dial; 850", "dial; 950\n6) Loyalty discount; -100")],
        "item 6 amount is negative: -100.00",
    ),
    (
        Reason.ITEMS_SUM_MISMATCH,
        [("dial; 850", "dial; 800")],
        "items sum to 7600.00 but Amount is 7650.00",
    ),
    (
        Reason.TAX_SUM_MISMATCH,
        [("; 2000; 200", "; 2000; 150")],
        "item taxes sum to 450.00 but the tax lines sum to 500.00",
    ),
    (
        Reason.TOTAL_MISMATCH,
        [("Total: 8150", "Total: 8200"), ("one hundred fifty", "two hundred")],
        "Amount 7650.00 + taxes 500.00 = 8150.00 but Total is 8200.00",
    ),
    (
        Reason.WORDS_MISMATCH,
        [("hundred fifty", "hundred sixty")],
        "InWords says 8160 but the whole part of Total is 8150",
    ),
]


@pytest.mark.parametrize(("reason", "replacements", "detail"), BROKEN)
def test_each_reason_alone(
    variant: Variant, reason: Reason, replacements: list[tuple[str, str]], detail: str
) -> None:
    rejection = rejected(variant(*replacements))
    assert rejection.reasons == (reason,)
    assert any(detail in d for d in rejection.details), rejection.details


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", Reason.EMPTY_DOCUMENT),
        (b" \r\n\t\n", Reason.EMPTY_DOCUMENT),
        (b"Total:\x00", Reason.NOT_TEXT),
    ],
)
def test_unreadable_documents_get_only_that_code(data: bytes, reason: Reason) -> None:
    assert rejected(data).reasons == (reason,)


def test_too_large_is_known_from_the_size_alone() -> None:
    rejection = validate(oversized(2_000_000, 1_048_576))
    assert isinstance(rejection, Rejection)
    assert rejection.reasons == (Reason.TOO_LARGE,)
    assert rejection.details == (
        "the document has 2000000 bytes, more than the limit of 1048576 "
        "(DOCPROC_MAX_DOCUMENT_BYTES)",
    )


def test_every_rule_that_applies_is_reported(variant: Variant) -> None:
    rejection = rejected(
        variant(
            ("inv-00001", "inv–00001"),  # SPEC v2: 'inv/00001' is a valid id now
            ("Mar 31 2018", "31/02/2018"),
            ("dial; 850", "dial; 850\n6) Spare fuse; 10; -5"),
            ("Total: 8150", "Total: 8150\nTotal: 9000"),
            ("Space Rupees", "Space Rupees nine thousand"),
            ("To: Starfleet Interplanatory HQ\n", ""),
        )
    )
    assert rejection.reasons == (
        Reason.MISSING_FIELD,
        Reason.DUPLICATE_FIELD,
        Reason.BAD_ID,
        Reason.BAD_DATE,
        Reason.NEGATIVE_AMOUNT,
        Reason.ITEMS_SUM_MISMATCH,
        Reason.TAX_SUM_MISMATCH,
        Reason.WORDS_MISMATCH,
    )
    assert "items sum to 7660.00 but Amount is 7650.00" in rejection.details


def test_every_missing_field_is_named() -> None:
    rejection = rejected(b"Note: nothing here\n")
    assert rejection.reasons == (Reason.MISSING_FIELD,)
    assert len(rejection.problems) == 7


@pytest.mark.parametrize(
    "replacement",
    [
        ("InWords: Space Rupees Eight thousand one hundred fifty only\n", ""),  # optional
        ("InWords: Space Rupees Eight thousand one hundred fifty only", "InWords: see total"),
        ("one hundred fifty only", "one hundred fifty and twenty paise only"),
        ("Items\n", "Items\n1) Free sample; 0\n"),
        ("inv-00001", "a" * 64),
        ("inv-00001", "A.b_c-9"),
    ],
)
def test_accepted_edge_cases(variant: Variant, replacement: tuple[str, str]) -> None:
    assert isinstance(validate(parse(variant(replacement))), Invoice)


def test_without_items_only_the_totals_count(sample_text: str) -> None:
    data = sample_text.split("Items")[0].encode()
    invoice = validate(parse(data))
    assert isinstance(invoice, Invoice)
    assert invoice.items == ()


def test_without_item_taxes_the_tax_lines_are_not_compared(variant: Variant) -> None:
    data = variant(
        ("; 2000; 200", "; 2000"),
        ("; 3100; 180", "; 3100"),
        ("; 500; 35", "; 500"),
        ("; 1200; 85", "; 1200"),
    )
    invoice = validate(parse(data))
    assert isinstance(invoice, Invoice)
    assert invoice.tax_total == Decimal("500.00")


def test_no_tax_lines_mean_tax_total_zero(variant: Variant) -> None:
    invoice = validate(
        parse(
            variant(
                ("SGST: 500\n", ""),
                ("Total: 8150", "Total: 7650"),
                ("Eight thousand one hundred fifty", "Seven thousand six hundred fifty"),
                ("; 200\n", "\n"),
                ("; 180\n", "\n"),
                ("; 35\n", "\n"),
                ("; 85\n", "\n"),
            )
        )
    )
    assert isinstance(invoice, Invoice)
    assert (invoice.tax_total, invoice.taxes) == (Decimal("0.00"), ())
    assert str(invoice.tax_total) == "0.00"


def test_amounts_keep_two_decimals(variant: Variant) -> None:
    invoice = validate(
        parse(
            variant(
                ("Amount: 7650", "Amount: 7650.5"),
                ("Total: 8150", "Total: 8150.50"),
                ("dial; 850", "dial; 850.5"),
            )
        )
    )
    assert isinstance(invoice, Invoice)
    assert [str(v) for v in (invoice.amount, invoice.tax_total, invoice.total)] == [
        "7650.50",
        "500.00",
        "8150.50",
    ]


def test_validate_survives_a_malformed_document() -> None:
    doc = ParsedDocument(fields=dict.fromkeys(FIELD_NAMES, "1"), items=(None,))  # type: ignore[arg-type]
    assert isinstance(validate(doc), Rejection)


TEXT = st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(FIELD_NAMES), TEXT),
    st.lists(st.tuples(st.sampled_from(["SGST", "TAX"]), TEXT), max_size=3),
    st.lists(st.tuples(TEXT, TEXT, st.none() | TEXT), max_size=4),
)
def test_any_parsed_document_validates(
    fields: dict[str, str],
    taxes: list[tuple[str, str]],
    items: list[tuple[str, str, str | None]],
) -> None:
    doc = ParsedDocument(
        fields=fields,
        taxes=tuple(taxes),
        items=tuple(RawItem(n, d, a, t) for n, (d, a, t) in enumerate(items, start=1)),
    )
    with no_bug_caught():
        result = validate(doc)
    if isinstance(result, Rejection):
        assert result.reasons
    else:
        assert result.total == result.amount + result.tax_total


def test_the_property_test_fails_when_validate_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the test above would see if validate()'s insides raised: a failure, not a pass."""

    def broken(doc: ParsedDocument) -> Invoice:
        raise RuntimeError("a bug")

    monkeypatch.setattr(validator, "_validate", broken)
    with pytest.raises(AssertionError, match="a catch-all caught a bug"), no_bug_caught():
        validate(ParsedDocument())
