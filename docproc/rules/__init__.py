"""The rules of SPEC section 3: what a reader found (`docproc.formats.document`) becomes an
Invoice or a Rejection carrying every reason code that applies.

`judge` is the one verdict: text format v1's rules (`rules.text`) or EN 16931's
(`rules.en16931`), by the syntax read. Like the readers, no rule raises and none imports
an I/O library.
"""

from __future__ import annotations

from docproc.formats.document import Document, ParsedDocument
from docproc.models import Invoice, Rejection
from docproc.rules import en16931, text

__all__ = ["judge"]


def judge(doc: Document) -> Invoice | Rejection:
    """Apply the rules of SPEC section 3 that the document's syntax follows; never raises."""
    if isinstance(doc, ParsedDocument):
        return text.validate(doc)
    return en16931.judge(doc)
