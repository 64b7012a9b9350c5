"""Invoices for the report tests: e-invoices whose totals follow from their tax entries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from docproc.models import FetchedObject, Format, Invoice, ObjectRef, Tax

D = Decimal


def vat_entry(category: str, rate: str, taxable: str, tax: str) -> Tax:
    return Tax("VAT", D(tax), category=category, rate=D(rate), taxable_amount=D(taxable))


def einvoice(
    issuer: str, number: str, day: date, currency: str, *taxes: Tax, **more: object
) -> Invoice:
    """An e-invoice whose totals follow from its tax entries."""
    net = sum((t.taxable_amount or D(0) for t in taxes), D("0.00"))
    tax = sum((t.amount for t in taxes), D("0.00"))
    fields: dict[str, object] = {
        "customer_id": "BUYER-1",
        "invoice_id": number,
        "invoice_date": day,
        "seller": "Acme GmbH",
        "buyer": "Starfleet",
        "currency": currency,
        "amount": net,
        "tax_total": tax,
        "total": net + tax,
        "total_in_words": None,
        "taxes": taxes,
        "issuer_key": issuer,
        "format": Format.UBL,
    }
    return Invoice(**(fields | more))  # type: ignore[arg-type]


def fetched(invoice: Invoice, version: str = "1") -> FetchedObject:
    key = f"in/{invoice.issuer_key}/{invoice.invoice_id}"
    return FetchedObject(ObjectRef("src", key, version), 100, b"x", version * 64)
