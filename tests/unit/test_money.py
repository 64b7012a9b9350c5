from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docproc.money import currency_of, looks_like_money, parse_money

MARKS = [
    ("₹", "INR"),
    ("Rs", "INR"),
    ("Rs.", "INR"),
    ("INR", "INR"),
    ("$", "USD"),
    ("USD", "USD"),
    ("€", "EUR"),
    ("EUR", "EUR"),
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7650", "7650.00"),
        ("0", "0.00"),
        ("7650.5", "7650.50"),
        ("7650.05", "7650.05"),
        ("7,650", "7650.00"),
        ("1,00,000", "100000.00"),
        ("1,00,00,000.25", "10000000.25"),
        ("12,34,567", "1234567.00"),
        ("1,000,000", "1000000.00"),
        ("007650", "7650.00"),
        ("  7650  ", "7650.00"),
        ("9999999999999.99", "9999999999999.99"),  # 13 integer digits: the most DECIMAL(15,2) holds
        ("-500", "-500.00"),
        ("-0", "0.00"),
        ("-0.00", "0.00"),
    ],
)
def test_numbers(raw: str, expected: str) -> None:
    value, currency = parse_money(raw)
    assert str(value) == expected
    assert currency is None


@pytest.mark.parametrize(("mark", "iso"), MARKS)
@pytest.mark.parametrize("template", ["{m}7,650", "{m} 7,650", "7,650{m}", "7,650 {m}"])
def test_currency_marks_before_or_after(mark: str, iso: str, template: str) -> None:
    assert parse_money(template.format(m=mark)) == (Decimal("7650.00"), iso)


@pytest.mark.parametrize("raw", ["rs 5", "RS. 5", "inr 5", "5 usd", "5 Eur", "Rs\u00a05"])
def test_marks_ignore_case_and_no_break_space(raw: str) -> None:
    assert parse_money(raw)[1] is not None


@pytest.mark.parametrize("raw", ["-₹500", "₹-500", "-500 INR", "Rs. -500"])
def test_negative_with_mark(raw: str) -> None:
    assert parse_money(raw) == (Decimal("-500.00"), "INR")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "7,65",  # a decimal comma, or a typo: either way not a number here
        "1,0000",
        "7650,",
        ",7650",
        "5,000,00",
        "12.345",
        "1.",
        ".5",
        "+5",
        "--5",
        "-₹-5",
        "₹5$",
        "Rs 5 Rs",
        "5 5",
        "1e3",
        "NaN",
        "Infinity",
        "0x10",
        "1_000",
        "٣٤",  # Arabic-Indic digits: Decimal() would read them, the format does not
        "Rſ 5",  # a long s is not an s
        "GBP 5",
        "5 -",
    ],
)
def test_not_numbers(raw: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_money(raw)


@pytest.mark.parametrize("raw", ["12345678901234", "12,345,678,901,234.00", "Rs 99999999999999"])
def test_more_than_13_integer_digits_do_not_fit(raw: str) -> None:
    with pytest.raises(ValueError, match="more than 13 integer digits"):
        parse_money(raw)


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert parse_money("00000000000001234.5")[0] == Decimal("1234.50")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("500", True), ("Rs 500", True), ("-5.5", True), ("size 8", False), ("M8", False)],
)
def test_looks_like_money(raw: str, expected: bool) -> None:
    assert looks_like_money(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("500", None), ("-500", None), ("Rs.500", "INR"), ("-$5", "USD"), ("5 €", "EUR"), ("", None)],
)
def test_currency_of(raw: str, expected: str | None) -> None:
    assert currency_of(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_is_a_number_or_a_value_error(raw: str) -> None:
    try:
        value, _ = parse_money(raw)
    except ValueError:
        return
    assert value.as_tuple().exponent == -2


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1), st.sampled_from(MARKS))
def test_formatted_cents_read_back(cents: int, mark: tuple[str, str]) -> None:
    value = Decimal(cents).scaleb(-2)
    assert parse_money(f"{value:,}") == (value, None)
    assert parse_money(f"{mark[0]}{value}") == (value, mark[1])
