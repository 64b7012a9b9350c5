"""English number words ("Rupees Eight thousand one hundred fifty only") as an integer.

Only the whole part is read, since that is what `words_mismatch` compares with Total:
number words that name the fraction are left out. Those are a run of number words followed
by `paise`, `paisa`, `cent` or `cents` ("... fifty and twenty paise": when the run holds an
`and`, only the words after its last `and` are the fraction) and the run after `point`.
Every other word (currency names, "only", "and") is filler, so "Eight thousand rupees one
hundred fifty" still reads 8150.
"""

from __future__ import annotations

import re

# fmt: off
_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# fmt: on
_UNITS: dict[str, int] = {name: value for value, name in enumerate(_ONES)}
_UNITS.update({name: 10 * value for value, name in enumerate(_TENS, start=2)})
_HUNDRED = frozenset({"hundred", "hundreds"})
_SCALES: dict[str, int] = {
    "thousand": 10**3,
    "thousands": 10**3,
    "lakh": 10**5,
    "lakhs": 10**5,
    "lac": 10**5,
    "lacs": 10**5,
    "million": 10**6,
    "millions": 10**6,
    "crore": 10**7,
    "crores": 10**7,
    "billion": 10**9,
    "billions": 10**9,
}
# Every number word with its value: below 100 a unit, 100 "hundred", above it a scale.
_VALUES: dict[str, int] = {**_UNITS, **dict.fromkeys(_HUNDRED, 100), **_SCALES}
_FRACTION_UNITS = frozenset({"paise", "paisa", "cent", "cents"})
_FRACTION_MARKERS = _FRACTION_UNITS | {"point"}
# Far above any Total (13 integer digits); stops "hundred hundred hundred ..." from building
# a huge integer out of a hostile document.
_CAP = 10**18
_WORD_RE = re.compile(r"[a-z]+")


def words_to_int(text: str) -> int | None:
    """The whole-number value of the number words in `text`; None when it holds none."""
    words = _WORD_RE.findall(text.lower())
    if _FRACTION_MARKERS.isdisjoint(words):  # the usual case: every number word counts
        return _value(words)
    runs: list[list[str]] = []  # number words, each run with the 'and's between them
    run: list[str] = []
    kept = True  # False for the run after "point": the decimals
    seen = False
    for word in words:
        if word in _VALUES:
            run.append(word)
            seen = True
        elif word == "and" and run:
            run.append(word)
        elif run:
            if word in _FRACTION_UNITS:
                run = run[: _last_and(run)]
            if kept:
                runs.append(run)
            run = []
            kept = word != "point"
        elif word == "point":
            kept = False
    if run and kept:
        runs.append(run)
    if not seen:
        return None
    return _value([w for r in runs for w in r]) or 0  # only the fraction had number words


def _last_and(run: list[str]) -> int:
    """Where the fraction starts in a run that ends at 'paise': after its last 'and', else 0."""
    for i in range(len(run) - 1, -1, -1):
        if run[i] == "and":
            return i
    return 0


def _value(words: list[str]) -> int | None:
    """Evaluate the number words among `words` (None if there are none), Indian mixes
    included ("one thousand crore" is 10**10).

    A scale word multiplies everything since the last larger scale, so both "two million
    five hundred thousand" and "one crore twenty lakh" come out right. Groups of one scale
    merge, which keeps the stack at most five deep whatever the input.
    """
    groups: list[list[int]] = []  # [scale, value] of finished groups, scales falling
    current = 0
    seen = False
    for word in words:
        number = _VALUES.get(word)
        if number is None:
            continue
        seen = True
        if number < 100:
            current += number
        elif number == 100:
            current = min((current or 1) * 100, _CAP)
        else:
            lower = current
            while groups and groups[-1][0] < number:
                lower += groups.pop()[1]
            value = min((lower or 1) * number, _CAP)
            if groups and groups[-1][0] == number:
                groups[-1][1] = min(groups[-1][1] + value, _CAP)
            else:
                groups.append([number, value])
            current = 0
    if not seen:
        return None
    return min(sum(v for _, v in groups) + current, _CAP)
