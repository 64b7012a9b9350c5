"""The id rule of SPEC section 3 (`bad_id`) and ids as path segments (SPEC section 5), once.

An id is what invoices are keyed and exported by: `invoice_id`, `issuer_key` and, in
text-v1, `customer_id`. Real ids hold `/`, spaces and `#` (`RE-20190610/507`,
`INV/18-19/0001`), so the rule only keeps out what no column or key can carry safely.
"""

from __future__ import annotations

import re
from urllib.parse import quote

MAX_ID_LENGTH = 64
# Codes of EN 16931's code lists (type, unit, VAT category and scheme) are a few
# characters; the columns hold this many, and a longer "code" is no code.
MAX_CODE_LENGTH = 16
_PRINTABLE_ASCII = re.compile(rf"[ -~]{{1,{MAX_ID_LENGTH}}}")


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an id, as the end of a sentence, or None when it can."""
    if not value.strip():
        return "is blank"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if _PRINTABLE_ASCII.fullmatch(value) is None:
        return "holds a character outside printable ASCII"
    if not value.strip("."):
        return "is made only of dots"
    return None


def is_id(value: str | None) -> bool:
    """True when `value` passes the id rule (the hot path: one regex, two strips)."""
    return (
        value is not None
        and _PRINTABLE_ASCII.fullmatch(value) is not None
        and bool(value.strip())
        and bool(value.strip("."))
    )


def path_segment(value: str) -> str:
    """`value` as one S3 key segment: every byte outside `A-Za-z0-9._-` percent-encoded
    (UTF-8, upper-case hex), a segment of dots only encoded whole. Injective, since `%`
    itself is encoded, and never `.`, `..` or a `/`: no id leaves its folder."""
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="").replace("~", "%7E")
    if not encoded.strip("."):
        return "%2E" * len(encoded)
    return encoded
