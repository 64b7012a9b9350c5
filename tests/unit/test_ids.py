"""The v2 id rule (SPEC section 3) and ids as CSV key segments (SPEC section 5)."""

from __future__ import annotations

import csv
import io
import posixpath
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docproc import export
from docproc.ids import id_problem, is_id, path_segment
from docproc.models import Invoice, Item

REAL_IDS = [
    "RE-20190610/507",
    "INV/18-19/0001",
    "inv 00001",
    "A#1",
    "100%",
    "50%25",
    "a/b",
    "a%2Fb",
    "..x",
    "x..",
    "a~b",
    "a+b",
    "C:\\inv\\1",
    "?q=1&r",
]
DOTS = [".", "..", "..."]


@pytest.mark.parametrize("value", [*REAL_IDS, "inv-00001", "x" * 64, ".a"])
def test_real_ids_pass_the_rule(value: str) -> None:
    assert is_id(value)
    assert id_problem(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "blank"),
        ("   ", "blank"),
        ("x" * 65, "longer than 64"),
        ("inv–1", "outside printable ASCII"),
        ("inv\t1", "outside printable ASCII"),
        ("Kundennummer Müller", "outside printable ASCII"),
        (".", "only of dots"),
        ("..", "only of dots"),
    ],
)
def test_bad_ids_say_why(value: str, why: str) -> None:
    assert not is_id(value)
    assert why in (id_problem(value) or "")


def test_v1_ids_keep_their_csv_key() -> None:
    assert export.csv_key("", "sm-LK0080145", "inv-00001") == "sm-LK0080145/inv-00001.csv"
    assert export.csv_key("out/", "c_1.x", "I-2") == "out/c_1.x/I-2.csv"


def test_slashes_spaces_and_percent_are_encoded() -> None:
    assert export.csv_key("", "DE 123", "INV/18-19/0001") == "DE%20123/INV%2F18-19%2F0001.csv"
    assert export.csv_key("", "c", "100%") == "c/100%25.csv"
    assert export.csv_key("", "c", "A#1~") == "c/A%231%7E.csv"


@pytest.mark.parametrize("dots", DOTS)
def test_a_segment_of_dots_is_encoded_whole(dots: str) -> None:
    assert path_segment(dots) == "%2E" * len(dots)
    assert path_segment(dots + "a") == dots + "a"  # dots with more are an ordinary name


def _folder_and_name(key: str, prefix: str) -> tuple[str, str]:
    assert key.startswith(prefix) and key.endswith(".csv")
    folder, slash, name = key[len(prefix) : -len(".csv")].partition("/")
    assert slash and "/" not in name and folder not in {"", ".", ".."}
    assert name not in {"", ".", ".."}
    return folder, name


def test_no_two_ids_share_a_key_and_none_leaves_its_folder() -> None:
    ids = sorted({*REAL_IDS, *DOTS, "%2E", "%2E%2E", "A%231"})
    keys = {}
    for issuer in ids:
        for invoice_id in ids:
            key = export.csv_key("exports/", issuer, invoice_id)
            _folder_and_name(key, "exports/")
            assert posixpath.normpath(key).startswith("exports/")
            assert key not in keys, (keys.get(key), (issuer, invoice_id))
            keys[key] = (issuer, invoice_id)


@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_any_two_distinct_ids_get_distinct_segments(a: str, b: str) -> None:
    if a != b:
        assert path_segment(a) != path_segment(b)
    segment = path_segment(a)
    assert "/" not in segment and segment not in {".", ".."}


def test_csv_keeps_non_ascii_descriptions_and_slashed_ids() -> None:
    invoice = Invoice(
        customer_id="K 1",
        invoice_id="INV/18-19/0001",
        invoice_date=date(2019, 6, 10),
        seller="Müller & Söhne GmbH",
        buyer="Café Ωmega",
        currency="EUR",
        amount=Decimal("10.00"),
        tax_total=Decimal("0.00"),
        total=Decimal("10.00"),
        total_in_words=None,
        items=(Item(1, "Schraube M8 – verzinkt, 10 Stück ₹", Decimal("10.00"), None),),
    )
    rows = list(csv.reader(io.StringIO(export.invoice_csv(invoice).decode("utf-8"), newline="")))
    assert rows[1][1] == "INV/18-19/0001"
    assert rows[1][11] == "Schraube M8 – verzinkt, 10 Stück ₹"
    assert rows[1][14] == "K 1"  # issuer_key
    assert export.csv_key("", invoice.issuer_key, invoice.invoice_id) == (
        "K%201/INV%2F18-19%2F0001.csv"
    )
