"""Text format v1 (SPEC section 2.1): bytes in, raw fields and items out.

Nothing here judges values; `docproc.rules.text` does, so that one rejection lists every problem.
`parse` never raises: whatever the bytes, the result says what was wrong with them.

Item lines without `;` split on `,`. The rule for their numbers: with three fields or
more, the second-to-last field is the amount and the last the tax when the second-to-last
has the shape of a money value; otherwise the last field is the amount, there is no tax,
and everything before it is the description. So "Bolts, M8, 120, 12" is "Bolts, M8" at
120 with tax 12, and "Bolts, size 8, 120" is "Bolts, size 8" at 120.

Lines in the header that are not `Key: value` lines of a known key are ignored, as unknown
keys are. In the Items section, `Key: value` lines are still read (some documents put
Total after the items), banner lines are skipped, and any other line is reported: it is
most likely an item whose number was forgotten, and dropping it silently would lose money.
An empty tax field ("Widget; 850;") or tax line ("CGST:") means no tax.
"""

from __future__ import annotations

import codecs
import re

from docproc.formats.document import FIELD_LABELS, ParsedDocument, RawItem
from docproc.models import Problem, Reason
from docproc.money import currency_of, looks_like_money
from docproc.rules.problems import ProblemLog, never_raises

# Every header key of SPEC section 2, as written there, with its field.
KEY_SYNONYMS: dict[str, str] = {
    "Customer-ID": "customer_id",
    "Inv-ID": "invoice_id",
    "Invoice-ID": "invoice_id",
    "Invoice No": "invoice_id",
    "Dated": "date",
    "Date": "date",
    "From": "seller",
    "Seller": "seller",
    "To": "buyer",
    "Buyer": "buyer",
    "Bill To": "buyer",
    "Amount": "amount",
    "Subtotal": "amount",
    "Total": "total",
    "InWords": "in_words",
    "Amount In Words": "in_words",
}
TAX_KINDS: tuple[str, ...] = ("SGST", "CGST", "IGST", "UTGST", "GST", "VAT", "TAX")
_MONEY_FIELDS = frozenset({"amount", "total"})

# Keys compare without case, blanks, '-', '_' or '.': "Invoice No." = "invoice-no" = "InvoiceNo".
_KEY_NOISE = str.maketrans("", "", " \t-_.")
_LONGEST_KEY = 40  # longer heads are text with a colon in it, not keys
_ITEMS_HEADING = "items"
_BANNER = ("", "invoice")  # what is left of a banner line without its '*'s
# What a key means: (True, tax kind) or (False, field name).
_KEYS: dict[str, tuple[bool, str]] = {
    **{k.lower().translate(_KEY_NOISE): (False, v) for k, v in KEY_SYNONYMS.items()},
    **{k.lower(): (True, k) for k in TAX_KINDS},
}
# Heads as written, already looked up: nearly every document spells its keys the same few
# ways, and a dict hit is cheaper than normalising. Bounded, as documents are untrusted.
_HEAD_CACHE: dict[str, tuple[bool, str] | None] = {}
_HEAD_CACHE_SIZE = 4096
_UNSEEN = (False, "")  # a cache miss; compared by identity

_ITEM_RE = re.compile(r"[0-9]+[ \t]*[.)][ \t]*(.*)", re.DOTALL)
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _unreadable(exc: Exception, data: bytes) -> ParsedDocument:
    return ParsedDocument(
        problems=(Problem(Reason.NOT_TEXT, f"the document could not be read ({exc!r})"),)
    )


@never_raises(_unreadable)
def parse(data: bytes) -> ParsedDocument:
    """Read a document; problems found on the way (not_text, empty_document,
    duplicate_field, unreadable item lines) travel in the result, never as exceptions."""
    text = _decode(data)
    if isinstance(text, Problem):
        return ParsedDocument(problems=(text,))
    return _read(text)


def _decode(data: bytes) -> str | Problem:
    try:
        if data.startswith(_UTF8_BOM):
            text = data[len(_UTF8_BOM) :].decode("utf-8")
        elif data.startswith(_UTF16_BOMS):
            text = data.decode("utf-16")  # reads the byte order from the BOM and drops it
        else:
            text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(
            Reason.NOT_TEXT,
            f"the document is neither UTF-8 nor UTF-16 with a byte order mark "
            f"({exc.encoding}: {exc.reason} at byte {exc.start})",
        )
    if "\x00" in text:
        return Problem(Reason.NOT_TEXT, "the document holds NUL bytes: it is binary, not text")
    return text


def _meaning(head: str) -> tuple[bool, str] | None:
    """What a `Key:` head stands for, or None for an unknown key; remembered while the
    cache has room (short heads only, so that it stays small)."""
    if len(head) > _LONGEST_KEY:
        return None
    found = _KEYS.get(head.strip().lower().translate(_KEY_NOISE))
    if len(_HEAD_CACHE) < _HEAD_CACHE_SIZE:
        _HEAD_CACHE[head] = found
    return found


def _read(text: str) -> ParsedDocument:
    """One loop over the lines with everything in locals: this is the hot path of the
    pipeline's throughput, so it trades a little structure for speed (plain string methods
    beat a line regex here by far)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    fields: dict[str, str] = {}
    taxes: list[tuple[str, str]] = []
    items: list[RawItem] = []
    problems = ProblemLog()
    currency: str | None = None
    item_count = 0  # unreadable item lines count too, so item numbers match the text
    in_items = False
    blank = True
    cache_get = _HEAD_CACHE.get
    for line_no, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        blank = False
        if in_items and "0" <= line[0] <= "9" and (m := _ITEM_RE.match(line)):
            item_count += 1
            item = _item(item_count, m[1])
            if item is None:
                problems.add(
                    Reason.BAD_NUMBER,
                    f"item {item_count} has no amount: {line[:60]!r} (write "
                    "'N) description; amount[; tax]' or 'N) description, amount[, tax]')",
                )
                continue
            items.append(item)
            if currency is None:
                currency = currency_of(item.amount)
                if currency is None and item.tax is not None:
                    currency = currency_of(item.tax)
            continue
        head, colon, value = line.partition(":")
        if not colon:
            if line.lower() == _ITEMS_HEADING:
                in_items = True
            elif in_items and line.strip("* \t").lower() not in _BANNER:
                problems.add(
                    Reason.BAD_NUMBER,
                    f"line {line_no} in the Items section is not an item line: "
                    f"{line[:60]!r} (write 'N) description; amount[; tax]')",
                )
            continue
        meaning = cache_get(head, _UNSEEN)
        if meaning is _UNSEEN:
            meaning = _meaning(head)
        value = value.strip()
        if meaning is None:
            if not value and head.rstrip().lower() == _ITEMS_HEADING:
                in_items = True
            continue
        is_tax, name = meaning
        if is_tax:
            if not value:  # a blank tax line is no tax
                continue
            taxes.append((name, value))
        else:
            old = fields.get(name)
            if not old:
                fields[name] = value
            elif value and value != old:
                problems.add(
                    Reason.DUPLICATE_FIELD,
                    f"{FIELD_LABELS[name]} is given twice: {old[:40]!r} and {value[:40]!r}",
                )
                continue
            if name not in _MONEY_FIELDS:
                continue
        if currency is None:
            currency = currency_of(value)
    if blank:
        return ParsedDocument(
            problems=(Problem(Reason.EMPTY_DOCUMENT, "the document has no non-blank line"),)
        )
    return ParsedDocument(fields, tuple(taxes), tuple(items), currency, problems.result())


def _item(line_no: int, body: str) -> RawItem | None:
    """An item from the text after its number, or None when it has no amount."""
    if ";" in body:
        parts = body.rsplit(";", 2)
    else:
        parts = body.split(",")
        if len(parts) >= 3 and looks_like_money(parts[-2]):
            parts = [",".join(parts[:-2]), parts[-2], parts[-1]]
        elif len(parts) >= 2:
            parts = [",".join(parts[:-1]), parts[-1]]
    amount = parts[1].strip() if len(parts) > 1 else ""
    if not amount:
        return None
    tax = parts[2].strip() if len(parts) > 2 else ""
    return RawItem(line_no, parts[0].strip(), amount, tax or None)
