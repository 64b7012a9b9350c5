"""Money values as invoices write them (SPEC section 2), read exactly as 2-decimal Decimals."""

from __future__ import annotations

import re
from decimal import Decimal

# Longest first so that "Rs." is not read as "Rs" followed by a stray ".". The patterns match
# ASCII-only: Unicode case folding would let "ſ" or "ı" stand for "s" or "i".
_MARK = r"₹|rs\.|rs|inr|\$|usd|€|eur"
_ISO = {
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "inr": "INR",
    "$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
}
_GAP = "[ \t\u00a0]*"  # "Rs 500", "Rs\u00a0500" (a no-break space, as word processors write it)
# Integer digits beyond this do not fit the DECIMAL(15,2) columns.
MAX_INTEGER_DIGITS = 13
# Quantities, unit prices and rates: DECIMAL(25,10) keeps what real invoices write
# (more than two decimals); a number it cannot hold is refused, never rounded.
QUANTITY_INTEGER_DIGITS = 15
QUANTITY_DECIMALS = 10

# The first group holds 1-3 digits, the last exactly 3 and the ones between 2 or 3, which
# covers 7,650, 1,000,000 and the Indian 1,00,000 while refusing 7,65 (a decimal comma?).
_GROUPED = r"[0-9]{1,3}(?:,[0-9]{2,3})*,[0-9]{3}"
# One sign at most, before or after a leading mark, and one mark at most, before or after:
# the conditionals "(?(1)...)" and "(?(2)...)" allow the second only without the first.
_MONEY_RE = re.compile(
    rf"(-)?(?:({_MARK}){_GAP}((?(1)|-?)))?"
    rf"({_GROUPED}|[0-9]+)(?:\.([0-9]{{1,2}}))?"
    rf"(?(2)|(?:{_GAP}({_MARK}))?)",
    re.IGNORECASE | re.ASCII,
)
_EDGE_MARK_RE = re.compile(
    rf"-?(?P<pre>{_MARK})|.*?(?P<post>{_MARK})$", re.IGNORECASE | re.ASCII | re.DOTALL
)
_PADDING = ("00", "0", "")  # to add to 0, 1 or 2 decimals


def parse_money(raw: str) -> tuple[Decimal, str | None]:
    """Read a money value: its amount (exponent -2, so sums print with 2 decimals) and currency.

    Raises ValueError, with a message naming the value, when it is not a number of SPEC
    section 2 or has more integer digits than the database keeps.
    """
    text = raw.strip()
    if text.isascii():
        # The common case, "7650" or "1858.50", without the regex.
        head, dot, frac = text.partition(".")
        if (
            head.isdigit()
            and len(head) <= MAX_INTEGER_DIGITS
            and (not dot or (frac.isdigit() and len(frac) <= 2))
        ):
            return Decimal(text + _PADDING[len(frac)] if dot else text + ".00"), None
    m = _MONEY_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{raw[:40]!r} is not a number")
    sign, pre, sign2, digits, frac, post = m.groups("")
    if "," in digits:
        digits = digits.replace(",", "")
    if len(digits) > MAX_INTEGER_DIGITS and len(digits.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"{raw[:40]!r} has more than {MAX_INTEGER_DIGITS} integer digits")
    value = Decimal(f"{sign or sign2}{digits}.{frac}{_PADDING[len(frac)]}")
    if not value:
        value = abs(value)  # "-0" is zero, not a negative amount
    mark = pre or post
    return value, (_ISO[mark.lower()] if mark else None)


def looks_like_money(raw: str) -> bool:
    """Tell whether a field has the shape of a money value: the comma-split rule of item lines
    decides with it whether a field is a number or part of the description."""
    return _MONEY_RE.fullmatch(raw.strip()) is not None


def currency_of(raw: str) -> str | None:
    """The ISO code of a currency mark at either end of `raw`, without judging the number.

    The parser only needs the first mark of a document; reading every value in full twice
    (once there, once in the validator) would cost throughput for nothing.
    """
    if raw[-1:].isdigit() and raw.lstrip("-")[:1].isdigit():
        return None
    m = _EDGE_MARK_RE.match(raw)
    if m is None:
        return None
    return _ISO[(m["pre"] or m["post"]).lower()]
