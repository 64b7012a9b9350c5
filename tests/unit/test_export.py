import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from docproc import export
from docproc.models import (
    DocumentType,
    Format,
    Invoice,
    Item,
    ObjectRef,
    Problem,
    Reason,
    Rejection,
    Tax,
)
from tests.support import builders


def invoice(**changes: object) -> Invoice:
    return builders.invoice(
        **{
            "customer_id": "sm-LK0080145",
            "invoice_id": "inv-00001",
            "seller": "Space Mechanics Inc.",
            "buyer": "Starfleet Interplanatory HQ",
            "currency": None,
            "total_in_words": "Two thousand three hundred",
            "items": (
                Item(1, "Fusion controller", Decimal("1999.5"), Decimal("200")),
                Item(2, "Dial", Decimal("100.5"), None),
            ),
            "taxes": (Tax("SGST", Decimal("200.00")),),
            **changes,
        }
    )


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_has_the_spec_header_and_one_row_per_item() -> None:
    data = export.invoice_csv(invoice())
    assert data.startswith(b"customer_id,invoice_id,invoice_date,seller,buyer,currency,amount,")
    assert b"\r\n" in data  # RFC 4180 line ends
    table = rows(data)
    assert table[0] == list(export.CSV_COLUMNS)
    # SPEC v2: v1's 14 columns first, unchanged, then v2's.
    assert table[1][:14] == [
        "sm-LK0080145", "inv-00001", "2018-03-31", "Space Mechanics Inc.",
        "Starfleet Interplanatory HQ", "", "2100.00", "200.00", "2300.00",
        "Two thousand three hundred", "1", "Fusion controller", "1999.50", "200.00",
    ]  # fmt: skip
    assert dict(zip(table[0][14:], table[1][14:], strict=True)) == {
        "issuer_key": "sm-LK0080145", "document_type": "invoice", "type_code": "",
        "format": "text-v1", "seller_tax_id": "", "buyer_tax_id": "", "due_date": "",
        "allowance_total": "0.00", "charge_total": "0.00", "net_total": "2100.00",
        "prepaid": "0.00", "rounding": "0.00", "payable": "2300.00", "line_id": "",
        "item_quantity": "", "item_unit_code": "", "item_unit_price": "",
        "item_tax_category": "", "item_tax_rate": "",
    }  # fmt: skip
    assert table[2][10:14] == ["2", "Dial", "100.50", ""]
    assert len(table) == 3


def test_csv_of_an_e_invoice_has_every_value_in_its_column() -> None:
    full = invoice(
        customer_id="Erika Mustermann",
        items=(
            Item(
                1, "Beratung", Decimal("1000"), Decimal("190"), line_id="L-7",
                quantity=Decimal("2.5000000001"), unit_code="HUR",
                unit_price=Decimal("400.12"), tax_category="S", tax_rate=Decimal("19.0"),
            ),
        ),
        currency="EUR", issuer_key="DE123456789", format=Format.UBL,
        document_type=DocumentType.CREDIT_NOTE, type_code="381", profile="urn:x",
        due_date=date(2018, 4, 30), seller_tax_id="DE123456789", buyer_tax_id="DE987654321",
        allowance_total=Decimal("10"), charge_total=Decimal("-5.5"), net_total=Decimal("984.5"),
        taxes=(Tax("VAT", Decimal("187.06"), "S", Decimal("19"), Decimal("984.50")),),
        prepaid=Decimal("100"), rounding=Decimal("0.01"),
    )  # fmt: skip
    [header, row] = rows(export.invoice_csv(full))
    assert dict(zip(header, row, strict=True)) == {
        "customer_id": "Erika Mustermann", "invoice_id": "inv-00001",
        "invoice_date": "2018-03-31", "seller": "Space Mechanics Inc.",
        "buyer": "Starfleet Interplanatory HQ", "currency": "EUR", "amount": "1000.00",
        "tax_total": "187.06", "total": "1171.56",
        "total_in_words": "Two thousand three hundred", "line_no": "1",
        "description": "Beratung", "item_amount": "1000.00", "item_tax": "190.00",
        "issuer_key": "DE123456789", "document_type": "credit_note", "type_code": "381",
        "format": "ubl", "seller_tax_id": "DE123456789", "buyer_tax_id": "DE987654321",
        "due_date": "2018-04-30", "allowance_total": "10.00", "charge_total": "-5.50",
        "net_total": "984.50", "prepaid": "100.00", "rounding": "0.01", "payable": "1071.57",
        "line_id": "L-7", "item_quantity": "2.5000000001", "item_unit_code": "HUR",
        "item_unit_price": "400.12", "item_tax_category": "S", "item_tax_rate": "19.0",
    }  # fmt: skip


def test_csv_without_items_has_one_row_with_empty_item_cells() -> None:
    table = rows(export.invoice_csv(invoice(items=())))
    assert len(table) == 2
    assert table[1][10:14] == ["", "", "", ""]
    assert table[1][27:] == ["", "", "", "", "", ""]  # SPEC v2's item columns


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    seller = 'ACME, "the best"\nLtd'
    data = export.invoice_csv(invoice(seller=seller))
    assert b'"ACME, ""the best""\nLtd"' in data
    assert rows(data)[1][3] == seller


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_defuses_formulas_in_text_cells(start: str) -> None:
    evil = f'{start}HYPERLINK("http://x")'
    table = rows(export.invoice_csv(invoice(buyer=evil, items=(Item(1, evil, Decimal(1), None),))))
    assert table[1][4] == "'" + evil
    assert table[1][11] == "'" + evil
    assert table[1][6] == "1.00"  # numbers are not text cells


def test_csv_is_utf8() -> None:
    data = export.invoice_csv(invoice(seller="Ḿüñçhen GmbH ₹"))
    assert "Ḿüñçhen GmbH ₹" in data.decode("utf-8")


def test_keys() -> None:
    assert export.csv_key("", "c1", "i1") == "c1/i1.csv"
    assert export.csv_key("out/", "c1", "i1") == "out/c1/i1.csv"
    assert export.report_key("rejected/", "in/a b.txt") == "rejected/in/a b.txt.json"


def test_rejection_report_fields() -> None:
    rejection = Rejection(
        (
            Problem(Reason.TOTAL_MISMATCH, "7650.00 + 500.00 is not 8100.00"),
            Problem(Reason.BAD_DATE, "Dated 31 Feb 2018 is not a calendar date"),
        )
    )
    ref = ObjectRef("src", "in/x.txt", "abc")
    report = json.loads(
        export.rejection_report(ref, rejection, "run-1", datetime(2026, 1, 2, 3, 4, 5))
    )
    assert report == {
        "bucket": "src",
        "key": "in/x.txt",
        "etag": "abc",
        "format": "unknown",  # SPEC v2: reports carry the format
        "reasons": ["bad_date", "total_mismatch"],
        "details": ["7650.00 + 500.00 is not 8100.00", "Dated 31 Feb 2018 is not a calendar date"],
        "flow_run_id": "run-1",
        "rejected_at": "2026-01-02T03:04:05Z",
    }


def test_markdown_escapes_table_cells() -> None:
    text = export.invoice_markdown(invoice(seller="a|b\nc"), "s3://s/k", "s3://t/c.csv")
    assert "| seller | a\\|b c |" in text
    assert "| 2 | Dial | 100.50 |  |" in text
