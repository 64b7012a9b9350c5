"""Invoices for tests, built from their parts as a validator would build them.

A test names the parts it changes; the values SPEC section 3 derives from them follow:
`amount` from the items, `tax_total` from the tax lines, then `net_total`, `total` and
`payable`. A test may still give a derived value, but the invoice must then add up: an
invoice that no document could have produced is refused, since a test asserting one
proves nothing about the code it guards.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from docproc.models import FetchedObject, Format, Invoice, Item, ObjectRef, Tax

ITEMS = (
    Item(1, "controller", Decimal("2000.00"), Decimal("200.00"), quantity=Decimal("2")),
    Item(2, "dial", Decimal("100.00"), None),
)
TAXES = (Tax("SGST", Decimal("200.00"), rate=Decimal("9.5")),)
# Everything but the values derived from these; an invoice without items keeps this amount.
PARTS: dict[str, Any] = {
    "customer_id": "sm-1",
    "invoice_id": "inv-1",
    "invoice_date": date(2018, 3, 31),
    "seller": "Space Mechanics",
    "buyer": "Starfleet",
    "currency": "INR",
    "amount": Decimal("2100.00"),
    "total_in_words": None,
    "items": ITEMS,
    "taxes": TAXES,
}


def invoice(**changes: Any) -> Invoice:
    """A valid invoice `sm-1/inv-1` (2100.00 + 200.00 tax = 2300.00, two items), with
    `changes`; a derived value not in `changes` follows the parts that are."""
    values = PARTS | changes
    items: tuple[Item, ...] = values["items"]
    taxes: tuple[Tax, ...] = values["taxes"]
    zero = Decimal("0.00")
    if items and "amount" not in changes:
        values["amount"] = sum((i.amount for i in items), zero)
    values.setdefault("tax_total", sum((t.amount for t in taxes), zero))
    values.setdefault(
        "net_total",
        values["amount"] - values.get("allowance_total", zero) + values.get("charge_total", zero),
    )
    values.setdefault("total", values["net_total"] + values["tax_total"])
    values.setdefault(
        "payable", values["total"] - values.get("prepaid", zero) + values.get("rounding", zero)
    )
    built = Invoice(**values)
    broken = impossible(built)
    if broken:
        raise ValueError(f"no document gives this invoice: {'; '.join(broken)}")
    return built


def impossible(inv: Invoice) -> list[str]:
    """The sums of SPEC section 3 that `inv` breaks (BR-CO-10, -13 to -16), by reason code."""
    zero = Decimal("0.00")
    broken = []
    if inv.items and sum((i.amount for i in inv.items), zero) != inv.amount:
        broken.append(f"items_sum_mismatch: the items do not sum to amount {inv.amount}")
    taxed = [i.tax for i in inv.items if i.tax is not None]
    text = inv.format == Format.TEXT_V1
    # Text v1's tax_total is its tax lines' sum; an e-invoice's only when it has a breakdown.
    if (inv.taxes or text) and sum((t.amount for t in inv.taxes), zero) != inv.tax_total:
        broken.append(f"tax_sum_mismatch: the tax lines do not sum to tax_total {inv.tax_total}")
    if text and taxed and sum(taxed, zero) != inv.tax_total:
        broken.append(f"tax_sum_mismatch: the item taxes do not sum to tax_total {inv.tax_total}")
    if inv.net_total != inv.amount - inv.allowance_total + inv.charge_total:
        broken.append(f"allowance_charge_mismatch: net_total {inv.net_total}")
    if inv.net_total is None or inv.total != inv.net_total + inv.tax_total:
        broken.append(f"total_mismatch: total {inv.total}")
    if inv.payable != inv.total - inv.prepaid + inv.rounding:
        broken.append(f"payable_mismatch: payable {inv.payable}")
    return broken


# `invoice()` with its second item's amount changed (the totals follow): a conflict.
CHANGED = invoice(
    items=(
        Item(1, "controller", Decimal("2000.00"), Decimal("200.00"), quantity=Decimal("2")),
        Item(2, "dial", Decimal("150.00"), None),
    )
)


def fetched(key: str, etag: str = "e") -> FetchedObject:
    """An object of bucket `src`, as the loader receives it (its bytes do not matter)."""
    return FetchedObject(ObjectRef("src", key, etag), 100, b"x", "0" * 64)
