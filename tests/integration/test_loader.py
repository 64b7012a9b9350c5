"""The loader and schema against a real MariaDB (and SQLite, the demo's database)."""

from dataclasses import MISSING, fields, replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, inspect, select

from docproc import loader, rows, schema
from docproc.models import (
    DocumentType,
    FetchedObject,
    Format,
    Invoice,
    Item,
    ObjectRef,
    Problem,
    Reason,
    Rejection,
    Tax,
)
from docproc.schema import documents, invoice_items, invoice_taxes, invoices
from tests.support import builders


def invoice(**changes: object) -> Invoice:
    """With quotes, a backslash and SQL in its strings: they must reach the rows as they are."""
    hostile: dict[str, object] = {
        "customer_id": "sm-LK0080145",
        "invoice_id": "inv-00001",
        "seller": 'O\'Brien "Space" \\ Mechanics; DROP TABLE invoices; --',
        "buyer": "Starfleet ₹ HQ",
        "items": (
            Item(1, "controller", Decimal("2000.00"), Decimal("200.00")),
            Item(2, "dial", Decimal("100.00"), None),
        ),
        "taxes": (Tax("SGST", Decimal("120.00")), Tax("CGST", Decimal("80.00"))),
    }
    return builders.invoice(**(hostile | changes))


def fetched(key: str = "in/a b.txt", etag: str = "e1") -> FetchedObject:
    return FetchedObject(ObjectRef("src", key, etag), 100, b"x", "0" * 64)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, without the timestamps that say when."""
    out = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            cols = [c for c in table.columns if c.name not in {"loaded_at", "processed_at", "id"}]
            out[table.name] = sorted(conn.execute(select(*cols)).all(), key=repr)
    return out


def test_init_is_idempotent(engine: Engine) -> None:
    schema.create_all(engine)
    schema.create_all(engine)
    assert set(inspect(engine).get_table_names()) >= {
        "invoices", "invoice_items", "invoice_taxes", "documents"
    }  # fmt: skip


def test_load_writes_every_table_with_values_as_given(engine: Engine) -> None:
    inv = invoice()
    loader.record(engine, [(inv, fetched())], flow_run_id="run-1")
    with engine.connect() as conn:
        row = conn.execute(select(invoices)).one()
        items = conn.execute(select(invoice_items).order_by(invoice_items.c.line_no)).all()
        taxes = conn.execute(select(invoice_taxes.c.kind, invoice_taxes.c.amount)).all()
        doc = conn.execute(select(documents)).one()
    assert row.seller == inv.seller  # bound parameters: quotes and SQL arrive as text
    assert row.buyer == "Starfleet ₹ HQ"
    assert (row.amount, row.tax_total, row.total) == (
        Decimal("2100.00"),
        Decimal("200.00"),
        Decimal("2300.00"),
    )
    assert row.invoice_date == date(2018, 3, 31)
    assert (row.source_bucket, row.source_key, row.source_etag) == ("src", "in/a b.txt", "e1")
    assert [(i.line_no, i.description, i.amount, i.tax) for i in items] == [
        (1, "controller", Decimal("2000.00"), Decimal("200.00")),
        (2, "dial", Decimal("100.00"), None),
    ]
    assert sorted(taxes) == [("CGST", Decimal("80.00")), ("SGST", Decimal("120.00"))]
    assert (doc.status, doc.customer_id, doc.invoice_id, doc.flow_run_id) == (
        "loaded", "sm-LK0080145", "inv-00001", "run-1"
    )  # fmt: skip


FULL = Invoice(
    customer_id="Erika Mustermann",
    invoice_id="RE-2024/0042",
    invoice_date=date(2024, 2, 29),
    seller="Muster GmbH",
    buyer="Beispiel AG",
    currency="EUR",
    amount=Decimal("1000.00"),
    tax_total=Decimal("187.91"),
    total=Decimal("1177.91"),
    total_in_words="eintausendeinhundertsiebenundsiebzig",
    items=(
        Item(
            1, "Beratung", Decimal("1000.00"), Decimal("190.00"), line_id="L-7",
            quantity=Decimal("2.5000000001"), unit_code="HUR",
            unit_price=Decimal("399.9999999984"), tax_category="S", tax_rate=Decimal("19.5"),
        ),
    ),
    taxes=(
        Tax("VAT", Decimal("187.91"), category="S", rate=Decimal("19.5"),
            taxable_amount=Decimal("963.64")),
    ),
    issuer_key="DE123456789",
    format=Format.UBL,
    document_type=DocumentType.CREDIT_NOTE,
    type_code="381",
    profile="urn:cen.eu:en16931:2017",
    due_date=date(2024, 3, 31),
    seller_tax_id="DE123456789",
    buyer_tax_id="DE987654321",
    allowance_total=Decimal("40.00"),
    charge_total=Decimal("3.64"),
    net_total=Decimal("963.64"),
    prepaid=Decimal("10.00"),
    rounding=Decimal("0.01"),
    payable=Decimal("1141.56"),
)  # fmt: skip


def test_every_field_is_stored_and_read_back_as_it_was(engine: Engine) -> None:
    """Through the one field-driven mapping, both ways: a field it dropped would come back
    as its default, so every field here is set to something else."""
    for record in (FULL, *FULL.items, *FULL.taxes):
        for f in fields(record):
            if f.name in rows.DOCUMENT_FIELDS:  # the document's, not stored with the invoice
                continue
            value = getattr(record, f.name)
            assert value is not None and (f.default is MISSING or value != f.default), f.name
    # The defaults that text-v1 derives: customer = issuer, net = amount, payable = total.
    assert (FULL.customer_id, FULL.amount, FULL.total) != (
        FULL.issuer_key, FULL.net_total, FULL.payable
    )  # fmt: skip
    loader.record(engine, [(FULL, fetched())])
    back = loader.read_invoice(engine, FULL.issuer_key, FULL.invoice_id)
    assert back is not None
    assert (len(back.items), len(back.taxes)) == (len(FULL.items), len(FULL.taxes))
    pairs = [*zip(back.items, FULL.items), *zip(back.taxes, FULL.taxes), (back, FULL)]  # noqa: B905
    for got, want in pairs:
        for f in fields(want):
            if f.name in rows.DOCUMENT_FIELDS:
                continue
            assert getattr(got, f.name) == getattr(want, f.name), f.name
    assert back == FULL


def test_loading_twice_leaves_the_same_rows(engine: Engine) -> None:
    loader.record(engine, [(invoice(), fetched())], flow_run_id="run-1")
    first = snapshot(engine)
    loader.record(engine, [(invoice(), fetched())], flow_run_id="run-1")
    assert snapshot(engine) == first


def test_a_new_document_replaces_the_invoice_items_and_taxes(engine: Engine) -> None:
    # SPEC 10: only under the replace policy; held as a conflict otherwise.
    loader.record(engine, [(invoice(), fetched())])
    newer = invoice(
        amount=Decimal("50.00"), tax_total=Decimal("0.00"), total=Decimal("50.00"),
        items=(Item(1, "only one", Decimal("50.00"), None),), taxes=(),
    )  # fmt: skip
    loader.record(engine, [(newer, fetched("in/v2.txt", "e2"))], replace=True)
    with engine.connect() as conn:
        assert conn.execute(select(invoices.c.total, invoices.c.source_key)).all() == [
            (Decimal("50.00"), "in/v2.txt")
        ]
        assert conn.execute(select(invoice_items.c.description)).scalars().all() == ["only one"]
        assert conn.execute(select(func.count()).select_from(invoice_taxes)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(documents)).scalar() == 2


def test_a_batch_naming_one_invoice_twice_keeps_the_later(engine: Engine) -> None:
    # SPEC 10: under the replace policy; held as a conflict otherwise (test_duplicates).
    older = invoice()
    newer = invoice(items=(Item(1, "later", Decimal("2100.00"), Decimal("200.00")),))
    loader.record(engine, [(older, fetched("a", "1")), (newer, fetched("b", "2"))], replace=True)
    with engine.connect() as conn:
        assert conn.execute(select(invoice_items.c.description)).scalars().all() == ["later"]


def test_a_failed_transaction_writes_nothing(engine: Engine) -> None:
    broken = invoice(items=(Item(1, "a", Decimal(1), None), Item(1, "dup line", Decimal(1), None)))
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        loader.record(engine, [(broken, fetched())])
    assert all(found == [] for found in snapshot(engine).values())


def test_rejection_is_recorded_and_found(engine: Engine) -> None:
    ref = ObjectRef("src", "in/bad.txt", "e9")
    rejection = Rejection((Problem(Reason.BAD_DATE, "x"), Problem(Reason.TOTAL_MISMATCH, "y")))
    assert loader.find_document(engine, ref) is None
    # Schema v2: the ids read from a rejected document travel in its Rejection.
    rejection = replace(rejection, invoice_id="inv-9")
    loader.record(engine, rejected=[(ref, rejection)])
    record = loader.find_document(engine, ref)
    assert record == loader.DocumentRecord(
        "rejected", ("bad_date", "total_mismatch"), None, None, "inv-9", None
    )
    assert loader.find_document(engine, ObjectRef("src", "in/bad.txt", "other")) is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(invoices)).scalar() == 0


def test_long_unicode_keys_are_one_version_each(engine: Engine) -> None:
    long_key = "in/" + "ü" * 1000
    for key in (long_key, long_key[:-1] + "u", "IN/A", "in/a"):
        loader.record(engine, rejected=[(ObjectRef("src", key, "e"), Rejection(()))])
    loader.record(engine, rejected=[(ObjectRef("src", long_key, "e"), Rejection(()))])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(documents)).scalar() == 4
    assert loader.find_document(engine, ObjectRef("src", long_key, "e")) is not None


def test_a_batch_of_loads_and_rejections_is_one_transaction(engine: Engine) -> None:
    bad = ObjectRef("src", "in/bad.txt", "e9")
    rejection = Rejection((Problem(Reason.BAD_DATE, "x"),))
    duplicate_lines = invoice(
        invoice_id="inv-2", items=(Item(1, "a", Decimal(1), None), Item(1, "b", Decimal(1), None))
    )
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        loader.record(
            engine,
            loaded=[(invoice(), fetched("a", "1")), (duplicate_lines, fetched("b", "2"))],
            rejected=[(bad, rejection)],
        )
    assert all(rows == [] for rows in snapshot(engine).values())

    loader.record(engine, loaded=[(invoice(), fetched("a", "1"))], rejected=[(bad, rejection)])
    statuses = {r.status for r in snapshot(engine)["documents"]}
    assert statuses == {"loaded", "rejected"}


def test_known_versions_names_exactly_the_recorded_ones(engine: Engine) -> None:
    loader.record(engine, loaded=[(invoice(), fetched("in/a b.txt", "1"))])
    loader.record(engine, rejected=[(ObjectRef("src", "in/x", "2"), Rejection(()))])
    asked = [
        ObjectRef("src", "in/a b.txt", "1"),
        ObjectRef("src", "in/a b.txt", "changed"),
        ObjectRef("src", "in/x", "2"),
        ObjectRef("other", "in/x", "2"),
    ]
    assert loader.known_versions(engine, asked) == {asked[0], asked[2]}
    assert loader.known_versions(engine, []) == set()
