"""Format recognition (SPEC section 2) and the v2 model the text-v1 reader fills (SPEC 4)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from docproc import formats, rules
from docproc.formats.document import EInvoiceDocument, ParsedDocument, oversized
from docproc.models import Format, Invoice, Reason, Rejection
from docproc.rules.text import validate
from docproc.settings import Settings

Variant = Callable[..., bytes]

UBL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
    b' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
    b"<cbc:ID>RE-20190610/507</cbc:ID></Invoice>"
)
EINVOICES = [
    ("ubl", UBL, Format.UBL, Reason.MISSING_FIELD),
    ("xml-with-bom", b"\xef\xbb\xbf" + UBL, Format.UBL, Reason.MISSING_FIELD),
    ("declaration-not-first", b"\n  " + UBL, Format.UNKNOWN, Reason.MALFORMED_DOCUMENT),
    ("utf16-xml", "\ufeff<?xml version='1.0'?><x/>".encode("utf-16-le"), Format.UNKNOWN,
     Reason.UNSUPPORTED_FORMAT),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", Format.UNKNOWN,
     Reason.MALFORMED_DOCUMENT),
]  # fmt: skip
JSON = [("json-object", b'{"invoice_id": "inv-1"}'), ("json-array", b"\n  [1, 2]")]


@pytest.mark.parametrize(
    ("name", "data", "fmt", "reason"), EINVOICES, ids=[n for n, *_ in EINVOICES]
)
def test_xml_and_pdf_go_to_the_einvoice_reader(
    name: str, data: bytes, fmt: Format, reason: Reason
) -> None:
    doc = formats.read(data)
    assert isinstance(doc, EInvoiceDocument)
    result = rules.judge(doc)
    assert isinstance(result, Rejection)
    assert reason in result.reasons, result.details
    assert Reason.NOT_TEXT not in result.reasons
    assert result.format is fmt


def test_an_einvoice_rejection_names_its_invoice() -> None:
    """The report and the `documents` row say whose invoice was refused."""
    rejection = rules.judge(formats.read(UBL))
    assert isinstance(rejection, Rejection)
    assert (rejection.format, rejection.invoice_id) == (Format.UBL, "RE-20190610/507")
    assert formats.read(UBL).invoice_id == "RE-20190610/507"


@pytest.mark.parametrize(("name", "data"), JSON, ids=[n for n, _ in JSON])
def test_json_is_unsupported_never_not_text(name: str, data: bytes) -> None:
    doc = formats.read(data)
    assert doc.format is Format.UNKNOWN
    result = rules.judge(doc)
    assert isinstance(result, Rejection)
    assert result.reasons == (Reason.UNSUPPORTED_FORMAT,)
    assert "JSON" in result.details[0]
    assert result.format is Format.UNKNOWN


def test_text_goes_to_the_text_v1_reader(variant: Variant) -> None:
    doc = formats.read(variant())
    assert doc.format is Format.TEXT_V1
    assert doc.fields["invoice_id"] == "inv-00001"


def test_a_name_never_decides(variant: Variant) -> None:
    """Bytes decide: a text document starting with a banner is text, whatever it is called."""
    assert formats.read(b"<not really xml\nCustomer-ID: c").format is Format.UNKNOWN
    assert formats.read(b"Customer-ID: c\n<x/>").format is Format.TEXT_V1


def test_text_v1_fills_schema_v2_values(variant: Variant) -> None:
    invoice = validate(formats.read(variant()))
    assert isinstance(invoice, Invoice)
    assert invoice.issuer_key == invoice.customer_id == "sm-LK0080145"
    assert invoice.format is Format.TEXT_V1
    assert str(invoice.document_type) == "invoice"
    assert invoice.net_total == invoice.amount == Decimal("7650.00")
    assert invoice.payable == invoice.total == Decimal("8150.00")
    assert (invoice.allowance_total, invoice.charge_total) == (Decimal("0.00"), Decimal("0.00"))
    assert (invoice.prepaid, invoice.rounding) == (Decimal("0.00"), Decimal("0.00"))


def test_v2_ids_with_slashes_and_spaces_are_accepted(variant: Variant) -> None:
    invoice = validate(
        formats.read(
            variant(("inv-00001", "INV/18-19/0001"), ("sm-LK0080145", "Space Mechanics #7"))
        )
    )
    assert isinstance(invoice, Invoice)
    assert (invoice.issuer_key, invoice.invoice_id) == ("Space Mechanics #7", "INV/18-19/0001")


def test_a_rejection_carries_the_format_and_the_ids_that_pass_the_rule(variant: Variant) -> None:
    rejection = validate(formats.read(variant(("Total: 8150", "Total: 9000"))))
    assert isinstance(rejection, Rejection)
    assert rejection.format is Format.TEXT_V1
    assert (rejection.issuer_key, rejection.customer_id, rejection.invoice_id) == (
        "sm-LK0080145",
        "sm-LK0080145",
        "inv-00001",
    )
    bad_ids = validate(formats.read(variant(("sm-LK0080145", "x" * 65))))
    assert isinstance(bad_ids, Rejection)
    assert (bad_ids.issuer_key, bad_ids.customer_id, bad_ids.invoice_id) == (
        None,
        None,
        "inv-00001",
    )


def test_too_large_has_no_format() -> None:
    rejection = validate(oversized(20_000_000, 10_485_760))
    assert isinstance(rejection, Rejection)
    assert rejection.format is Format.UNKNOWN


def test_the_size_limit_defaults_to_10_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCPROC_MAX_DOCUMENT_BYTES", raising=False)
    assert Settings(_env_file=None).max_document_bytes == 10 * 1024 * 1024  # type: ignore[call-arg]


def test_a_mysql_url_without_driver_is_taken_as_pymysql(caplog: pytest.LogCaptureFixture) -> None:
    config = Settings(database_url="mysql://user:pw@db.example/docproc")  # type: ignore[arg-type]
    assert config.database_url.get_secret_value() == "mysql+pymysql://user:pw@db.example/docproc"
    assert "PyMySQL" in caplog.text
    assert "pw" not in caplog.text


def test_a_driver_docproc_lacks_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"driver 'mysqldb'.*mysql\+pymysql://") as exc:
        Settings(database_url="mysql+mysqldb://u:pw@h/db")  # type: ignore[arg-type]
    assert "Traceback" not in str(exc.value)


@pytest.mark.parametrize("first", range(256))
def test_the_fast_path_agrees_with_the_sniffing(first: int) -> None:
    """`read` skips `container` for most first bytes: it must decide as `container` does."""
    from docproc.formats.sniff import Kind, container

    for rest in (b"", b"PDF-1.7", b" <x/>", b"\x00<\x00x", b"\xbb\xbf{}", b"abc"):
        data = bytes([first]) + rest
        doc = formats.read(data)
        kind = container(data)
        assert isinstance(doc, EInvoiceDocument) == (kind in (Kind.XML, Kind.PDF)), data
        unsupported = Reason.UNSUPPORTED_FORMAT in {p.reason for p in doc.problems}
        if isinstance(doc, ParsedDocument):
            assert unsupported == (kind is Kind.JSON), data
