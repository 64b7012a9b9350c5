from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docproc.dates import parse_date

MARCH_31 = date(2018, 3, 31)


@pytest.mark.parametrize(
    "raw",
    [
        "Mar 31 2018",
        "March 31, 2018",
        "31 Mar 2018",
        "31-Mar-2018",
        "2018-03-31",
        "31/03/2018",
        "31.03.2018",
        # tolerances a careful user would expect of the same forms
        "MAR 31 2018",
        "march 31 2018",
        "Mar. 31, 2018",
        "31 March 2018",
        "31-march-2018",
        "  31/03/2018  ",
        "31/3/2018",
    ],
)
def test_forms(raw: str) -> None:
    assert parse_date(raw) == MARCH_31


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sept 5 2020", date(2020, 9, 5)),
        ("Sep 5 2020", date(2020, 9, 5)),
        ("5 September 2020", date(2020, 9, 5)),
        ("01/02/2020", date(2020, 2, 1)),  # day first
        ("29.02.2020", date(2020, 2, 29)),
        ("2018-3-1", date(2018, 3, 1)),
    ],
)
def test_months_and_day_first(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Feb 29 2019", "not a real calendar date"),
        ("31/04/2018", "not a real calendar date"),
        ("2018-02-30", "not a real calendar date"),
        ("03/31/2018", "not a real calendar date"),  # month first is not a form
        ("0/03/2018", "not a real calendar date"),
        ("Smarch 3 2018", "does not name a month"),
        ("Ma 3 2018", "does not name a month"),
        ("0999-01-01", "before the year 1000"),
        ("31-03-2018", "not a date in a form"),
        ("31/03.2018", "not a date in a form"),
        ("Mar 31 18", "not a date in a form"),
        ("2018/03/31", "not a date in a form"),
        ("yesterday", "not a date in a form"),
        ("", "not a date in a form"),
        ("٣١/٠٣/٢٠١٨", "not a date in a form"),
    ],
)
def test_bad_dates(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date(raw)


FORMS = [
    "{d:%b} {d.day} {d.year}",
    "{d:%B} {d.day}, {d.year}",
    "{d.day} {d:%b} {d.year}",
    "{d.day}-{d:%b}-{d.year}",
    "{d.year}-{d.month:02d}-{d.day:02d}",
    "{d.day:02d}/{d.month:02d}/{d.year}",
    "{d.day:02d}.{d.month:02d}.{d.year}",
]


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(1000, 1, 1)), st.sampled_from(FORMS))
def test_every_form_reads_back(value: date, form: str) -> None:
    assert parse_date(form.format(d=value)) == value


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_is_a_date_or_a_value_error(raw: str) -> None:
    with contextlib.suppress(ValueError):
        parse_date(raw)
