"""The rules of SPEC section 3: what a reader found (`docproc.formats.document`) becomes an
Invoice or a Rejection carrying every reason code that applies.

`judge` is the one verdict: text format v1's rules (`rules.text`), EN 16931's
(`rules.en16931`) or those of a template-read PDF (`rules.template`), by the syntax
read. Like the readers, no rule raises and none imports an I/O library.
"""

from __future__ import annotations

from docproc.formats.document import Document, ExtractedDocument, ParsedDocument
from docproc.models import Invoice, Rejection
from docproc.rules import en16931, template, text

__all__ = ["judge"]


def judge(doc: Document) -> Invoice | Rejection:
    """Apply the rules of SPEC section 3 that the document's syntax follows; never raises."""
    if isinstance(doc, ParsedDocument):
        return text.validate(doc)
    if isinstance(doc, ExtractedDocument):
        return template.judge(doc)
    return en16931.judge(doc)
