"""The invoice builder of the tests: what it derives, and what it refuses to build."""

from decimal import Decimal

import pytest

from docproc.models import Format, Item
from tests.support.builders import invoice


def test_derived_values_follow_the_parts_a_test_changes() -> None:
    cheap = invoice(items=(Item(1, "bolt", Decimal("9.00"), None),), taxes=())
    assert (cheap.amount, cheap.tax_total, cheap.net_total, cheap.total, cheap.payable) == (
        Decimal("9.00"), Decimal("0.00"), Decimal("9.00"), Decimal("9.00"), Decimal("9.00"),
    )  # fmt: skip
    assert invoice(customer_id="sm-2").issuer_key == "sm-2"
    paid = invoice(format=Format.UBL, prepaid=Decimal("300.00"), charge_total=Decimal("1.00"))
    assert (paid.net_total, paid.total, paid.payable) == (
        Decimal("2101.00"), Decimal("2301.00"), Decimal("2001.00"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"total": Decimal("2400.00")},  # and nothing that adds up to it
        {"payable": Decimal("2400.00")},
        {"amount": Decimal("2200.00")},  # the items still sum to 2100.00
        {"net_total": Decimal("2000.00")},
        {"tax_total": Decimal("300.00")},
        {"taxes": ()},  # text v1: an item's tax without a tax line
    ],
)
def test_an_invoice_no_document_gives_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="no document gives this invoice"):
        invoice(**changes)
