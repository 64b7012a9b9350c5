"""A valid invoice for tests, whose fields each test changes as it needs."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from docproc.models import Invoice, Item, Tax


def invoice(**changes: object) -> Invoice:
    """A valid invoice `sm-1/inv-1` of two items; `changes` replace its fields."""
    base = Invoice(
        customer_id="sm-1",
        invoice_id="inv-1",
        invoice_date=date(2018, 3, 31),
        seller="Space Mechanics",
        buyer="Starfleet",
        currency="INR",
        amount=Decimal("2100.00"),
        tax_total=Decimal("200.00"),
        total=Decimal("2300.00"),
        total_in_words=None,
        items=(
            Item(1, "controller", Decimal("2000.00"), Decimal("200.00"), quantity=Decimal("2")),
            Item(2, "dial", Decimal("100.00"), None),
        ),
        taxes=(Tax("SGST", Decimal("200.00"), rate=Decimal("9.5")),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]
