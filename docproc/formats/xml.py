"""The one door through which untrusted XML enters docproc (SPEC section 2.5).

One lxml parser, configured once: no DTD loaded, no entity expanded, no network, no
XInclude (lxml only processes XInclude when asked, and nothing here asks), libxml2's
size limits kept (`huge_tree=False`). On top of it two refusals that lxml does not make:
a document that declares a DOCTYPE (the only place an entity can be declared) and a
document nested deeper than `MAX_DEPTH` elements are `unsafe_content`. The prolog is
scanned before parsing, so a hostile DTD never reaches libxml2 at all.
"""

from __future__ import annotations

import re

from lxml import etree

from docproc.models import Problem, Reason

MAX_DEPTH = 100

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)
# True when some element sits at depth MAX_DEPTH + 1: evaluated in C, one step per level.
_TOO_DEEP = etree.XPath("boolean(/" + "/".join(["*"] * (MAX_DEPTH + 1)) + ")")
# The prolog: blanks, the XML declaration, processing instructions and comments, in any
# order, then whatever comes first after them (a DOCTYPE, the root element, or garbage).
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_PROLOG_SCAN = 64 * 1024  # a prolog longer than this is not one a real invoice has
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def parse(data: bytes) -> etree._Element | Problem:
    """The root element of `data`, or the Problem that keeps it out. Never raises."""
    try:
        if _declares_doctype(data):
            return Problem(
                Reason.UNSAFE_CONTENT,
                "the XML declares a DOCTYPE (DTDs and entities are refused)",
            )
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        last = exc.error_log.last_error
        if last is not None and last.type_name == "ERR_RESOURCE_LIMIT":
            return Problem(Reason.UNSAFE_CONTENT, f"the XML exceeds a parser limit: {exc}")
        return Problem(Reason.MALFORMED_DOCUMENT, f"the XML is not well-formed: {exc}")
    except Exception as exc:  # lxml raises ValueError for some encodings; this is the one door
        return Problem(Reason.MALFORMED_DOCUMENT, f"the XML cannot be read: {exc!r}")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        return Problem(
            Reason.UNSAFE_CONTENT, "the XML declares a DOCTYPE (DTDs and entities are refused)"
        )
    if _TOO_DEEP(root):
        return Problem(Reason.UNSAFE_CONTENT, f"the XML is nested deeper than {MAX_DEPTH} elements")
    return root


def _declares_doctype(data: bytes) -> bool:
    """Whether a DOCTYPE comes before the root element; the markup is ASCII in every
    encoding an invoice uses, so only UTF-16 needs decoding first."""
    head = data[:_PROLOG_SCAN]
    if head.startswith(_UTF16_BOMS):
        head = head.decode("utf-16", errors="replace").encode("utf-8", errors="replace")
    elif b"\x00" in head[:4]:
        codec = "utf-16-be" if head.startswith(b"\x00") else "utf-16-le"
        head = head.decode(codec, errors="replace").encode("utf-8", errors="replace")
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while m := _PROLOG_ITEM.match(head, pos):
        pos = m.end()
    return head.startswith(b"<!DOCTYPE", pos)
