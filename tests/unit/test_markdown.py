"""The artifacts' tables: every cell escaped once, whatever an S3 key or an error holds."""

from __future__ import annotations

import pytest

from docproc.markdown import cell, code, table
from docproc.summary import Summary


def test_a_table_with_aligned_columns() -> None:
    assert table(["status", "objects"], [("loaded", 3), ("failed", 0)], "lr") == (
        "| status | objects |\n|---|---:|\n| loaded | 3 |\n| failed | 0 |"
    )


def test_empty_cells_and_default_alignment() -> None:
    assert table(["", "a", "b"], [("x", "", None)]) == (
        "| | a | b |\n|---|---|---|\n| x | | None |"
    )


def test_pipes_and_line_breaks_stay_inside_their_cell() -> None:
    text = table(["key", "error"], [(code("in/a|b.txt"), "first line\r\nsecond | third")])
    assert text.splitlines()[2] == r"| `in/a\|b.txt` | first line  second \| third |"


def test_a_cell_is_escaped_once() -> None:
    assert cell("a|b") == r"a\|b"
    assert table(["h"], [(cell("a|b"),)]).splitlines()[2] == r"| a\\|b |"  # twice: visible
    assert table(["h"], [("a|b",)]).splitlines()[2] == r"| a\|b |"


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("bad_date", "`bad_date`"),
        ("in/it`s.txt", "``in/it`s.txt``"),
        ("a``b", "```a``b```"),
        ("`edge", "`` `edge ``"),
    ],
)
def test_a_code_span_outlasts_the_backticks_inside(value: str, span: str) -> None:
    assert code(value) == span


@pytest.mark.parametrize(
    ("headers", "rows", "align"),
    [(["a"], [("x",)], "lr"), (["a", "b"], [("x", "y")], "lc"), (["a", "b"], [("x",)], "")],
)
def test_a_malformed_table_is_refused(
    headers: list[str], rows: list[tuple[str, ...]], align: str
) -> None:
    with pytest.raises(ValueError):
        table(headers, rows, align)


def test_the_backfill_summary_keeps_an_error_in_its_row() -> None:
    s = Summary(listed=1)
    s.add("s3://b/in|1", "failed", error="OperationalError: (2013)\nLost connection | again")
    rows = [line for line in s.markdown("x").splitlines() if "Error" in line]
    assert rows == [r"| `s3://b/in\|1` | OperationalError: (2013) Lost connection \| again |"]
