"""Hostile and broken documents (SPEC section 2.5): each gets a clear code, never a crash,
a hang or a network connection."""

from __future__ import annotations

import io
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject

from docproc import formats, rules
from docproc.formats.einvoice import read_einvoice
from docproc.formats.pdf import embedded_invoice
from docproc.formats.xml import MAX_DEPTH, parse
from docproc.models import Format, Invoice, Reason, Rejection
from docproc.rules.en16931 import judge
from tests.support.catch_all import no_bug_caught

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
MAX = 10 * 1024 * 1024
UBL_FILE = DATA / "en16931-ubl" / "ubl-tc434-example2.xml"
CII_FILE = DATA / "factur-x" / "factur-x-en16931.xml"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
UBL_NS = b'xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'


def ubl_with(doctype: bytes, *, number: bytes = b"TOSL108") -> bytes:
    """The real UBL sample with a DOCTYPE after its declaration and `number` as its BT-1."""
    data = UBL_FILE.read_bytes()
    assert data.startswith(XML_DECLARATION)
    data = data.replace(XML_DECLARATION, XML_DECLARATION + b"\n" + doctype, 1)
    return data.replace(b"<cbc:ID>TOSL108</cbc:ID>", b"<cbc:ID>" + number + b"</cbc:ID>", 1)


def reasons(data: bytes, max_bytes: int = MAX) -> tuple[Reason, ...]:
    result = judge(read_einvoice(data, max_bytes=max_bytes))
    assert isinstance(result, Rejection), result
    return result.reasons


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket on 127.0.0.1 that hostile documents point at: a test using it
    asserts afterwards that nobody connected (a connection would wait in its backlog)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    host, port = server.getsockname()
    yield f"http://{host}:{port}", server
    server.close()


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        conn, _ = server.accept()
        conn.close()


# --- XML: DTDs, entities, XInclude, depth -------------------------------------------------


def test_xxe_file_entity_is_refused_and_reads_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    data = ubl_with(
        f'<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(), number=b"&xxe;"
    )
    doc = read_einvoice(data, max_bytes=MAX)
    assert [p.reason for p in doc.problems] == [Reason.UNSAFE_CONTENT]
    assert "TOP-SECRET-VALUE" not in repr(doc)


def test_hostile_documents_open_no_connection(
    listener: tuple[str, socket.socket], tmp_path: Path
) -> None:
    url, server = listener
    hostile = {
        "xxe-http": ubl_with(
            f'<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "{url}/xxe">]>'.encode(), number=b"&xxe;"
        ),
        "external-dtd": ubl_with(f'<!DOCTYPE Invoice SYSTEM "{url}/invoice.dtd">'.encode()),
        "public-dtd": ubl_with(f'<!DOCTYPE Invoice PUBLIC "-//X//Y" "{url}/p.dtd">'.encode()),
        "parameter-entity": ubl_with(
            f'<!DOCTYPE Invoice [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>'.encode()
        ),
        "xinclude": UBL_FILE.read_bytes().replace(
            b"<cbc:ID>TOSL108</cbc:ID>",
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}/x"'
            ' parse="text"/>'.encode(),
        ),
        "schema-location": UBL_FILE.read_bytes().replace(
            b"http://docs.oasis-open.org/ubl/os-UBL-2.1/xsd/maindoc/UBL-Invoice-2.1.xsd",
            f"{url}/UBL-Invoice-2.1.xsd".encode(),
        ),
    }
    results = {name: judge(read_einvoice(data, max_bytes=MAX)) for name, data in hostile.items()}
    assert_no_connection(server)
    for name in ("xxe-http", "external-dtd", "public-dtd", "parameter-entity"):
        result = results[name]
        assert isinstance(result, Rejection) and result.reasons == (Reason.UNSAFE_CONTENT,), name
    # XInclude is never processed: the include stands where BT-1 was, so BT-1 is missing.
    xinclude = results["xinclude"]
    assert isinstance(xinclude, Rejection) and xinclude.reasons == (Reason.MISSING_FIELD,)
    assert "BT-1" in xinclude.details[0]
    # A schema location is a hint nobody follows: the invoice loads.
    assert isinstance(results["schema-location"], Invoice)


def test_xinclude_of_a_local_file_is_not_processed(tmp_path: Path) -> None:
    secret = tmp_path / "number.txt"
    secret.write_text("INCLUDED-NUMBER")
    data = UBL_FILE.read_bytes().replace(
        b"<cbc:ID>TOSL108</cbc:ID>",
        f'<cbc:ID><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret}"'
        ' parse="text"/></cbc:ID>'.encode(),
    )
    assert reasons(data) == (Reason.MISSING_FIELD,)


def test_billion_laughs_is_refused_at_once() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    data = ubl_with(f"<!DOCTYPE Invoice [{''.join(entities)}]>".encode(), number=b"&lol9;")
    assert reasons(data) == (Reason.UNSAFE_CONTENT,)


def test_doctype_after_comments_and_in_utf16_is_refused() -> None:
    data = b"<?xml version='1.0'?><!-- a --><?pi x?>\n<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>"
    assert reasons(data) == (Reason.UNSAFE_CONTENT,)
    utf16 = data.decode().replace("<?xml version='1.0'?>", "").encode("utf-16")
    assert reasons(utf16) == (Reason.UNSAFE_CONTENT,)


def test_a_doctype_inside_cdata_is_text() -> None:
    data = UBL_FILE.read_bytes().replace(
        b"<cbc:Name>Laptop computer</cbc:Name>",
        b"<cbc:Name><![CDATA[<!DOCTYPE x> Laptop]]></cbc:Name>",
    )
    result = judge(read_einvoice(data, max_bytes=MAX))
    assert isinstance(result, Invoice)
    assert result.items[0].description == "<!DOCTYPE x> Laptop"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 300, 10_000])
def test_deep_nesting_is_unsafe(depth: int) -> None:
    data = b"<a>" * depth + b"</a>" * depth
    assert reasons(data) == (Reason.UNSAFE_CONTENT,)


def test_nesting_at_the_limit_is_parsed() -> None:
    root = parse(b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH)
    assert not hasattr(root, "reason")
    # Well-formed and shallow enough, but no invoice.
    assert reasons(b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH) == (Reason.UNSUPPORTED_FORMAT,)


def test_deep_nesting_inside_a_real_invoice_is_unsafe() -> None:
    data = UBL_FILE.read_bytes().replace(
        b"<cbc:Note>", b"<cbc:Note>" + b"<x>" * 200 + b"</x>" * 200, 1
    )
    assert reasons(data) == (Reason.UNSAFE_CONTENT,)


@pytest.mark.parametrize("cut", [10, 1000, -20])
def test_truncated_xml_is_malformed(cut: int) -> None:
    assert reasons(UBL_FILE.read_bytes()[:cut]) == (Reason.MALFORMED_DOCUMENT,)


def test_undeclared_entity_is_malformed() -> None:
    data = UBL_FILE.read_bytes().replace(b"<cbc:ID>TOSL108</cbc:ID>", b"<cbc:ID>&x;</cbc:ID>")
    assert reasons(data) == (Reason.MALFORMED_DOCUMENT,)


# --- other vocabularies and containers ------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:'
        b'Order-2"><ID>1</ID></Order>',
        b"<html><body>invoice</body></html>",
        b'{"invoice": {"id": "1"}}',
        b"[1, 2]",
        b"Customer-ID: x\nInv-ID: y\n",
    ],
    ids=["ubl-order", "html", "json-object", "json-array", "text"],
)
def test_other_vocabularies_are_unsupported(data: bytes) -> None:
    assert reasons(data) == (Reason.UNSUPPORTED_FORMAT,)


def test_utf16_invoice_loads() -> None:
    text = UBL_FILE.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    result = judge(read_einvoice(text.encode("utf-16"), max_bytes=MAX))
    assert isinstance(result, Invoice)
    assert result.invoice_id == "TOSL108"


def test_document_over_the_limit_is_too_large() -> None:
    assert reasons(UBL_FILE.read_bytes(), max_bytes=1000) == (Reason.TOO_LARGE,)


def test_invoice_with_5000_lines_loads() -> None:
    data = UBL_FILE.read_text(encoding="utf-8")
    head, rest = data.split("<cac:InvoiceLine>", 1)
    tail = rest[rest.rindex("</cac:InvoiceLine>") + len("</cac:InvoiceLine>") :]
    line = (
        "<cac:InvoiceLine><cbc:ID>{n}</cbc:ID>"
        '<cbc:InvoicedQuantity unitCode="EA">1</cbc:InvoicedQuantity>'
        '<cbc:LineExtensionAmount currencyID="NOK">0.10</cbc:LineExtensionAmount>'
        "<cac:Item><cbc:Name>Screw {n}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>E</cbc:ID>"
        "<cbc:Percent>0</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        "</cac:ClassifiedTaxCategory></cac:Item>"
        '<cac:Price><cbc:PriceAmount currencyID="NOK">0.10</cbc:PriceAmount></cac:Price>'
        "</cac:InvoiceLine>"
    )
    body = "".join(line.format(n=n) for n in range(1, 5001))
    # 5000 × 0.10 = 500.00 of exempt lines; the allowance and the charge cancel out.
    totals = {
        "1436.50": "500.00",  # BT-106, BT-109
        "1801.78": "500.00",  # BT-112
        "801.78": "-500.00",  # BT-115: 1000.00 was prepaid
    }
    for old, new in totals.items():
        head = head.replace(f">{old}<", f">{new}<")
    head = head.replace(
        head[head.index("<cac:TaxTotal>") : head.index("</cac:TaxTotal>") + len("</cac:TaxTotal>")],
        '<cac:TaxTotal><cbc:TaxAmount currencyID="NOK">0.00</cbc:TaxAmount><cac:TaxSubtotal>'
        '<cbc:TaxableAmount currencyID="NOK">500.00</cbc:TaxableAmount>'
        '<cbc:TaxAmount currencyID="NOK">0.00</cbc:TaxAmount><cac:TaxCategory><cbc:ID>E</cbc:ID>'
        "<cbc:Percent>0</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        "</cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>",
    )
    head = head.replace("<cbc:ID>S</cbc:ID>", "<cbc:ID>E</cbc:ID>").replace(
        "<cbc:Percent>25</cbc:Percent>", "<cbc:Percent>0</cbc:Percent>"
    )
    result = judge(read_einvoice((head + body + tail).encode(), max_bytes=MAX))
    assert isinstance(result, Invoice), result
    assert len(result.items) == 5000
    assert result.items[-1].description == "Screw 5000"
    assert result.amount == sum(i.amount for i in result.items)


# --- PDF ---------------------------------------------------------------------------------


def pdf_with(*attachments: tuple[str, bytes], compress: bool = False) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    for name, content in attachments:
        embedded = writer.add_attachment(name, content)
        if compress:
            ref = embedded.pdf_object["/EF"].raw_get("/F")
            writer._replace_object(ref, ref.get_object().flate_encode(level=9))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_one_byte_and_empty_pdfs_are_malformed() -> None:
    problem = embedded_invoice(b"%", max_bytes=MAX, is_invoice=lambda _: True)
    assert not isinstance(problem, bytes) and problem.reason == Reason.MALFORMED_DOCUMENT
    assert reasons(b"%PDF-") == (Reason.MALFORMED_DOCUMENT,)
    assert reasons(b"%PDF-1.7\n%%EOF\n") == (Reason.MALFORMED_DOCUMENT,)


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_truncated_pdf_is_refused_by_the_pdf_reader(fraction: float) -> None:
    """The PDF reader's own refusal, not the catch-all's (which gives the same code)."""
    data = (DATA / "factur-x" / "invoice_EN16931.pdf").read_bytes()
    with no_bug_caught():
        result = judge(read_einvoice(data[: int(len(data) * fraction)], max_bytes=MAX))
    assert isinstance(result, Rejection)
    assert result.reasons == (Reason.MALFORMED_DOCUMENT,)
    (detail,) = result.details
    assert detail.startswith("the PDF cannot be read: PdfStreamError"), detail


def test_pdf_without_attachment_is_unsupported() -> None:
    assert reasons(pdf_with()) == (Reason.UNSUPPORTED_FORMAT,)


def test_attachment_inflating_past_the_limit_is_too_large() -> None:
    bomb = b"<a>" + b" " * (8 * 1024 * 1024) + b"</a>"
    data = pdf_with(("factur-x.xml", bomb), compress=True)
    assert len(data) < 64 * 1024  # small on the wire, 8 MiB inflated
    assert reasons(data, max_bytes=1024 * 1024) == (Reason.TOO_LARGE,)


def test_uncompressed_attachment_over_the_limit_is_too_large() -> None:
    data = pdf_with(("factur-x.xml", b"<a>" + b" " * 300_000 + b"</a>"))
    problem = embedded_invoice(data, max_bytes=200_000, is_invoice=lambda _: True)
    assert not isinstance(problem, bytes) and problem.reason == Reason.TOO_LARGE


def test_compressed_attachment_is_read() -> None:
    data = pdf_with(("factur-x.xml", CII_FILE.read_bytes()), compress=True)
    result = judge(read_einvoice(data, max_bytes=MAX))
    assert isinstance(result, Invoice) and result.format == Format.FACTUR_X


def test_preferred_name_wins_over_another_invoice() -> None:
    """factur-x.xml before xrechnung.xml, whatever the order in the PDF (SPEC 2.4)."""
    ubl, cii = UBL_FILE.read_bytes(), CII_FILE.read_bytes()
    for attachments in (
        (("xrechnung.xml", ubl), ("factur-x.xml", cii)),
        (("factur-x.xml", cii), ("xrechnung.xml", ubl)),
        (("invoice.xml", ubl), ("FACTUR-X.XML", cii)),
    ):
        result = judge(read_einvoice(pdf_with(*attachments), max_bytes=MAX))
        assert isinstance(result, Invoice) and result.invoice_id == "F20260023", attachments
        assert result.format == Format.FACTUR_X


def test_xrechnung_name_is_found() -> None:
    data = pdf_with(("readme.txt", b"hello"), ("XRechnung.xml", UBL_FILE.read_bytes()))
    result = judge(read_einvoice(data, max_bytes=MAX))
    assert isinstance(result, Invoice) and result.invoice_id == "TOSL108"
    assert result.format == Format.FACTUR_X


def test_the_one_embedded_invoice_under_another_name() -> None:
    data = pdf_with(("notes.xml", b"<notes/>"), ("rechnung-42.xml", UBL_FILE.read_bytes()))
    result = judge(read_einvoice(data, max_bytes=MAX))
    assert isinstance(result, Invoice) and result.invoice_id == "TOSL108"


def test_two_invoices_under_other_names_are_ambiguous() -> None:
    data = pdf_with(("a.xml", UBL_FILE.read_bytes()), ("b.xml", CII_FILE.read_bytes()))
    assert reasons(data) == (Reason.UNSUPPORTED_FORMAT,)


def test_zugferd_1_pdf_is_unsupported() -> None:
    data = pdf_with(("ZUGFeRD-invoice.xml", (DATA / "factur-x" / "zugferd-basic.xml").read_bytes()))
    assert reasons(data) == (Reason.UNSUPPORTED_FORMAT,)


def test_hostile_xml_inside_a_pdf_is_unsafe(listener: tuple[str, socket.socket]) -> None:
    url, server = listener
    xml = ubl_with(
        f'<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "{url}/xxe">]>'.encode(), number=b"&xxe;"
    )
    doc = read_einvoice(pdf_with(("factur-x.xml", xml)), max_bytes=MAX)
    assert [p.reason for p in doc.problems] == [Reason.UNSAFE_CONTENT]
    assert doc.format == Format.FACTUR_X
    assert_no_connection(server)


def garbage() -> list[bytes]:
    """Prefixes and mutations of a real PDF, CII and UBL file, and junk in each container."""
    pdf = (DATA / "factur-x" / "invoice_EN16931.pdf").read_bytes()
    cii, ubl = CII_FILE.read_bytes(), UBL_FILE.read_bytes()
    samples = [pdf[:n] for n in range(0, 2000, 97)]
    samples += [xml[:n] for xml in (cii, ubl) for n in range(0, 6000, 251)]
    samples += [pdf.replace(b"/FlateDecode", b"/LZWDecode"), pdf.replace(b"obj", b"ojb")]
    samples += [bytes([b ^ 0x20]) * 50 for b in b"<%{["]
    rng = random.Random(25)
    for xml in (cii, ubl):  # every tag kept, values scrambled: the rules see odd values
        samples += [
            bytes(b if b in b"<>/" or rng.random() > 0.02 else rng.choice(b"-.,9eE ") for b in xml)
        ]
    return samples


def test_garbage_bytes_never_raise() -> None:
    """Every sample gives a result through the pipeline's doors, and no catch-all caught a
    bug on the way (the catch-alls would hide one: their log is what is watched)."""
    with no_bug_caught():
        for data in garbage():
            result = rules.judge(formats.read(data, max_bytes=MAX))
            assert isinstance(result, Invoice | Rejection)


@pytest.mark.parametrize(
    "broken", ["docproc.formats.einvoice._read", "docproc.rules.en16931._judge"]
)
def test_the_garbage_test_fails_when_a_reader_or_the_rules_break(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the test above sees if the e-invoice reader or its rules raised: a failure."""

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broken, bug)
    with pytest.raises(AssertionError, match="a catch-all caught a bug"):
        test_garbage_bytes_never_raise()


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_pdf_encrypted_with_an_owner_password_only_is_read(algorithm: str) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("factur-x.xml", CII_FILE.read_bytes())
    writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    assert isinstance(judge(read_einvoice(out.getvalue(), max_bytes=MAX)), Invoice)


def test_pdf_needing_a_password_is_malformed() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("factur-x.xml", CII_FILE.read_bytes())
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    doc = read_einvoice(out.getvalue(), max_bytes=MAX)
    assert [p.reason for p in doc.problems] == [Reason.MALFORMED_DOCUMENT]
    assert "password" in doc.problems[0].detail


def test_nested_and_cyclic_name_tree_is_walked() -> None:
    """The attachment sits two /Kids levels down, and a kid points back at the top:
    pypdf's own `attachments` finds nothing here, the reader finds the invoice."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("factur-x.xml", CII_FILE.read_bytes())
    names = writer._root_object["/Names"]
    leaf = DictionaryObject({NameObject("/Names"): names["/EmbeddedFiles"]["/Names"]})
    middle = DictionaryObject({NameObject("/Kids"): ArrayObject([writer._add_object(leaf)])})
    top = DictionaryObject({NameObject("/Kids"): ArrayObject([writer._add_object(middle)])})
    top_ref = writer._add_object(top)
    middle[NameObject("/Kids")].append(top_ref)
    names[NameObject("/EmbeddedFiles")] = top_ref
    out = io.BytesIO()
    writer.write(out)
    result = judge(read_einvoice(out.getvalue(), max_bytes=MAX))
    assert isinstance(result, Invoice) and result.invoice_id == "F20260023"


def test_corrupt_compressed_attachment_is_malformed() -> None:
    """Random bytes that claim to be Flate: pypdf's byte-by-byte recovery is bounded."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    embedded = writer.add_attachment("factur-x.xml", b"x")
    stream = embedded.pdf_object["/EF"]["/F"].get_object()
    stream._data = random.Random(7).randbytes(2 * 1024 * 1024)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    out = io.BytesIO()
    writer.write(out)
    assert reasons(out.getvalue()) == (Reason.MALFORMED_DOCUMENT,)
