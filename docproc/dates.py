"""Invoice dates in the forms of SPEC section 2, read with one regex each (strptime is slow)."""

from __future__ import annotations

import re
from datetime import date

# fmt: off
_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)
# fmt: on
# Full names and 3-letter abbreviations, and "Sept", which is as common as "Sep".
_MONTHS: dict[str, int] = {
    key: number for number, name in enumerate(_MONTH_NAMES, start=1) for key in (name, name[:3])
} | {"sept": 9}

# ASCII: Unicode digits ("٣١") are no date of the format, although int() would read them.
_FLAGS = re.ASCII | re.IGNORECASE
# "Mar 31 2018", "March 31, 2018" (and "Mar. 31, 2018").
_MONTH_FIRST = re.compile(r"([a-z]+)\.?\s+([0-9]{1,2}),?\s+([0-9]{4})", _FLAGS)
# "31 Mar 2018", "31-Mar-2018" (and "31 March, 2018").
_DAY_FIRST = re.compile(r"([0-9]{1,2})(?:\s+|-)([a-z]+)\.?,?(?:\s+|-)([0-9]{4})", _FLAGS)
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", _FLAGS)
# "31/03/2018", "31.03.2018": day first, one separator throughout.
_NUMERIC = re.compile(r"([0-9]{1,2})([/.])([0-9]{1,2})\2([0-9]{4})", _FLAGS)

# The database's DATE type starts at year 1000; earlier years are typing mistakes anyway.
MIN_YEAR = 1000


def parse_date(raw: str) -> date:
    """Read a date of SPEC section 2; raise ValueError (naming the value) for anything else."""
    text = raw.strip()
    if m := _MONTH_FIRST.fullmatch(text):
        month, day, year = _MONTHS.get(m[1].lower()), m[2], m[3]
    elif m := _DAY_FIRST.fullmatch(text):
        day, month, year = m[1], _MONTHS.get(m[2].lower()), m[3]
    elif m := _ISO.fullmatch(text):
        year, month, day = m[1], int(m[2]), m[3]
    elif m := _NUMERIC.fullmatch(text):
        day, month, year = m[1], int(m[3]), m[4]
    else:
        raise ValueError(f"{raw[:40]!r} is not a date in a form of the format")
    if month is None:
        raise ValueError(f"{raw[:40]!r} does not name a month")
    try:
        value = date(int(year), month, int(day))
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a real calendar date") from None
    if value.year < MIN_YEAR:
        raise ValueError(f"{raw[:40]!r} is before the year {MIN_YEAR}")
    return value
