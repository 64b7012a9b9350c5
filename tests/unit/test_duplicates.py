"""SPEC section 10's comparison of business values, without a database."""

from dataclasses import replace
from decimal import Decimal

from docproc import duplicates
from docproc.duplicates import Difference, Kind, LoadedDocument
from docproc.models import Format, Item, ObjectRef, Tax
from tests.support.builders import ITEMS, invoice

LOADED = LoadedDocument(ObjectRef("src", "a.txt", "e1"), "inv-1", 7)


def test_the_same_values_in_another_format_or_with_other_decimals_do_not_differ() -> None:
    stored = invoice(
        items=(
            Item(
                1, "controller", Decimal("2000"), Decimal("200"), quantity=Decimal("2.0000000000")
            ),
            Item(2, "dial", Decimal("100.00"), None),
        ),
        taxes=(Tax("SGST", Decimal("200.00"), rate=Decimal("9.5000000000")),),
    )
    again = invoice(format=Format.FACTUR_X, profile="urn:factur-x:en16931")
    assert duplicates.differences(stored, again) == ()


def test_every_differing_value_is_listed_old_and_new() -> None:
    old = invoice()
    new = invoice(  # untaxed, and dearer: its sums follow
        seller_tax_id="DE123",
        items=(replace(old.items[0], tax=None), replace(old.items[1], amount=Decimal("150.00"))),
        taxes=(),
    )
    assert duplicates.differences(old, new) == (
        Difference("amount", "2100.00", "2150.00"),
        Difference("tax_total", "200.00", "0.00"),
        Difference("total", "2300.00", "2150.00"),
        Difference("seller_tax_id", "", "DE123"),
        Difference("net_total", "2100.00", "2150.00"),
        Difference("payable", "2300.00", "2150.00"),
        Difference("item 1 tax", "200.00", ""),
        Difference("item 2 amount", "100.00", "150.00"),
        Difference("tax 1 kind", "SGST", ""),
        Difference("tax 1 amount", "200.00", ""),
        Difference("tax 1 rate", "9.50", ""),
    )


def test_an_added_item_shows_against_nothing() -> None:
    old = invoice()
    new = invoice(items=(*old.items, Item(3, "bolt", Decimal("1.00"), None)))
    diffs = duplicates.differences(old, new)
    assert Difference("item 3 description", "", "bolt") in diffs
    assert Difference("item 3 amount", "", "1.00") in diffs


def test_decide_follows_spec_10() -> None:
    ref = ObjectRef("src", "b.txt", "e2")
    assert duplicates.decide(invoice(), ref, None, replace=False).kind == Kind.LOADED
    same = duplicates.decide(invoice(), ref, (invoice(), LOADED), replace=False)
    assert (same.kind, same.other, same.writes) == (Kind.DUPLICATE, LOADED, False)
    changed = invoice(buyer="Starfleet Academy")
    held = duplicates.decide(changed, ref, (invoice(), LOADED), replace=False)
    assert held.kind == Kind.CONFLICT and not held.writes
    assert held.differences == (Difference("buyer", "Starfleet", "Starfleet Academy"),)
    assert "s3://src/a.txt" in duplicates.conflict_detail(held)
    replaced = duplicates.decide(changed, ref, (invoice(), LOADED), replace=True)
    assert (replaced.kind, replaced.writes) == (Kind.REPLACED, True)
    # The loaded document itself again (a retry, --force) is loaded again, not a duplicate.
    rerun = duplicates.decide(changed, LOADED.ref, (invoice(), LOADED), replace=False)
    assert rerun.kind == Kind.LOADED


def test_a_suspect_is_another_number_with_the_same_total_currency_and_date() -> None:
    other = duplicates.signature(invoice(invoice_id="inv-2"))
    assert duplicates.resembles(invoice(), other)
    assert not duplicates.resembles(invoice(invoice_id="inv-2"), other)
    assert not duplicates.resembles(invoice(currency="EUR"), other)
    dearer = invoice(items=(ITEMS[0], replace(ITEMS[1], amount=Decimal("100.01"))))
    assert dearer.total == Decimal("2300.01")
    assert not duplicates.resembles(dearer, other)
    assert not duplicates.resembles(invoice(issuer_key="sm-2"), other)
