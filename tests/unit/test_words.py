from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docproc.words import words_to_int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Space Rupees Eight thousand one hundred fifty only", 8150),
        ("zero", 0),
        ("nineteen", 19),
        ("forty-two", 42),
        ("Ninety-Nine Thousand", 99_000),
        ("one hundred and five", 105),
        ("twenty-five hundred", 2_500),
        ("one hundred thousand", 100_000),
        ("One Lakh", 100_000),
        ("two lakhs fifty thousand", 250_000),
        ("Twelve Lakhs Thirty-Four Thousand Five Hundred Sixty-Seven Rupees Only", 1_234_567),
        ("one crore", 10_000_000),
        ("one crore twenty lakh", 12_000_000),
        ("three crore forty-five lakh six thousand and seven", 34_506_007),
        ("one thousand crore", 10_000_000_000),
        ("two million five hundred thousand", 2_500_000),
        (
            "Dollars one million two hundred thirty-four thousand five hundred sixty-seven",
            1_234_567,
        ),
        ("three billion", 3_000_000_000),
        ("one billion two hundred million", 1_200_000_000),
        ("EIGHT THOUSAND, ONE HUNDRED & FIFTY ONLY.", 8150),
        ("Eight thousand rupees one hundred fifty", 8150),
    ],
)
def test_values(text: str, expected: int) -> None:
    assert words_to_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rupees Eight Thousand One Hundred Fifty and Fifty Paise Only", 8150),
        ("Eight thousand one hundred fifty rupees fifty paise", 8150),
        ("Dollars ten and twenty cents", 10),
        ("one hundred point five zero", 100),
        ("fifty paise only", 0),
    ],
)
def test_only_the_whole_part_counts(text: str, expected: int) -> None:
    assert words_to_int(text) == expected


@pytest.mark.parametrize("text", ["", "Space Rupees only", "8150", "and only and", "tenth"])
def test_no_number_words(text: str) -> None:
    assert words_to_int(text) is None


def test_hostile_input_stays_small_and_fast() -> None:
    value = words_to_int("hundred thousand lakh crore billion " * 20_000)
    assert value is not None
    assert value <= 10**18


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises(text: str) -> None:
    value = words_to_int(text)
    assert value is None or value >= 0


WORDS = ["one", "twenty", "hundred", "thousand", "lakh", "crore", "million", "and", "paise"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=30))
def test_any_sequence_of_number_words(words: list[str]) -> None:
    value = words_to_int(" ".join(words))
    assert value is None or 0 <= value <= 10**18
