"""SPEC section 10 where the rows are written: the loader against MariaDB (and SQLite)."""

import threading
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from docproc import loader
from docproc.duplicates import Decision, Kind
from docproc.models import Item
from docproc.schema import documents, invoice_items, invoices
from tests.support.builders import CHANGED, fetched, invoice


def doc(engine: Engine, key: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(documents).where(documents.c.object_key == key)).one()
    return dict(row._mapping)


def stored(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        inv = conn.execute(select(invoices.c.invoice_id, invoices.c.source_key)).all()
        items = conn.execute(
            select(invoice_items.c.line_no, invoice_items.c.amount).order_by("line_no")
        ).all()
    return tuple(inv), tuple(items)


def test_the_same_invoice_from_another_key_is_a_duplicate(engine: Engine) -> None:
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    before = stored(engine)
    published: list[Decision] = []
    [d] = loader.record(engine, [(invoice(), fetched("b.txt"))], publish=published.extend)
    assert d.kind == Kind.DUPLICATE
    assert d.other is not None and d.other.uri == "s3://src/a.txt"
    assert d.other.id == doc(engine, "a.txt")["id"]
    row = doc(engine, "b.txt")
    assert (row["status"], row["reasons"], row["duplicate_of"]) == (
        "duplicate",
        None,
        doc(engine, "a.txt")["id"],
    )
    assert stored(engine) == before
    assert published == [d]  # the caller decides what a duplicate writes: nothing


def test_changed_values_are_held_as_a_conflict_and_listed(engine: Engine) -> None:
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    before = stored(engine)
    [d] = loader.record(engine, [(CHANGED, fetched("b.txt"))])
    assert d.kind == Kind.CONFLICT
    assert [(x.field, x.old, x.new) for x in d.differences] == [
        ("amount", "2100.00", "2150.00"),
        ("total", "2300.00", "2350.00"),
        ("net_total", "2100.00", "2150.00"),
        ("payable", "2300.00", "2350.00"),
        ("item 2 amount", "100.00", "150.00"),
    ]
    row = doc(engine, "b.txt")
    assert (row["status"], row["reasons"], row["duplicate_of"]) == (
        "rejected",
        "conflicting_duplicate",
        doc(engine, "a.txt")["id"],
    )
    assert stored(engine) == before


def test_the_replace_policy_accepts_the_correction(engine: Engine) -> None:
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    [d] = loader.record(engine, [(CHANGED, fetched("b.txt"))], replace=True)
    assert d.kind == Kind.REPLACED
    assert stored(engine) == (
        (("inv-1", "b.txt"),),
        ((1, Decimal("2000.00")), (2, Decimal("150.00"))),
    )
    assert doc(engine, "b.txt")["status"] == "loaded"


def test_two_writers_of_one_number_in_a_batch_publish_only_the_rows_owner(engine: Engine) -> None:
    """With replace, both write in key order; the rows are the last one's, so only its CSV
    may be put (two puts of one key at once would race)."""
    published: list[Decision] = []
    decisions = loader.record(
        engine,
        [(CHANGED, fetched("b.txt")), (invoice(), fetched("a.txt"))],
        replace=True,
        publish=published.extend,
    )
    assert [(d.ref.key, d.writes) for d in decisions] == [("a.txt", True), ("b.txt", True)]
    assert [d.ref.key for d in published] == ["b.txt"]
    assert stored(engine)[0] == (("inv-1", "b.txt"),)


def test_a_replacement_that_looks_like_another_number_names_the_look_alike(
    engine: Engine,
) -> None:
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    cheap = invoice(invoice_id="inv-2", items=(Item(1, "bolt", Decimal("9.00"), None),), taxes=())
    loader.record(engine, [(cheap, fetched("c"))])
    [d] = loader.record(engine, [(invoice(invoice_id="inv-2"), fetched("d"))], replace=True)
    assert d.kind == Kind.REPLACED and d.flags == ("possible_duplicate",)
    assert doc(engine, "d")["duplicate_of"] == doc(engine, "a.txt")["id"]


def test_another_number_with_the_same_total_currency_and_date_is_flagged(engine: Engine) -> None:
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    [d] = loader.record(engine, [(invoice(invoice_id="inv-2"), fetched("b.txt"))])
    assert d.kind == Kind.LOADED and d.flags == ("possible_duplicate",)
    assert d.suspect_of is not None and d.suspect_of.uri == "s3://src/a.txt"
    row = doc(engine, "b.txt")
    assert (row["status"], row["flags"], row["duplicate_of"]) == (
        "loaded",
        "possible_duplicate",
        doc(engine, "a.txt")["id"],
    )
    [other] = loader.record(engine, [(invoice(invoice_id="inv-3", currency="EUR"), fetched("c"))])
    assert other.flags == ()


@pytest.mark.parametrize("listed", [("a.txt", "b.txt"), ("b.txt", "a.txt")])
def test_a_batch_is_judged_in_key_order(engine: Engine, listed: tuple[str, str]) -> None:
    by_key = {"a.txt": invoice(), "b.txt": CHANGED}
    decisions = loader.record(engine, [(by_key[k], fetched(k)) for k in listed])
    assert [(d.ref.key, d.kind) for d in decisions] == [
        ("a.txt", Kind.LOADED),
        ("b.txt", Kind.CONFLICT),
    ]
    assert stored(engine)[0] == (("inv-1", "a.txt"),)
    assert doc(engine, "b.txt")["duplicate_of"] == doc(engine, "a.txt")["id"]


def test_a_batch_suspect_of_an_earlier_document_in_it(engine: Engine) -> None:
    decisions = loader.record(
        engine,
        [(invoice(invoice_id="inv-2"), fetched("b")), (invoice(), fetched("a"))],
    )
    assert [d.flags for d in decisions] == [(), ("possible_duplicate",)]


def test_a_publish_that_fails_leaves_nothing(engine: Engine) -> None:
    def broken(decisions: Sequence[Decision]) -> None:
        raise OSError("S3 is down")

    with pytest.raises(OSError):
        loader.record(engine, [(invoice(), fetched("a.txt"))], publish=broken)
    assert stored(engine) == ((), ())
    with engine.connect() as conn:
        assert conn.execute(select(documents)).all() == []


@pytest.mark.parametrize("first", ["held", "changed"])
def test_two_halves_of_a_conflict_at_once_load_exactly_one(engine: Engine, first: str) -> None:
    """Both transactions run together: the second waits for the first's row, or loses
    the race for the new number and is judged again; never both loaded."""
    numbers = [f"inv-{n}" for n in range(4)]
    halves = {
        "held": [(invoice(invoice_id=n), fetched(f"held/{n}")) for n in numbers],
        "changed": [(replace(CHANGED, invoice_id=n), fetched(f"changed/{n}")) for n in numbers],
    }
    start = threading.Barrier(2)
    inside = threading.Event()
    results: dict[str, list[Decision]] = {}
    errors: list[BaseException] = []

    def publish(name: str, decisions: Sequence[Decision]) -> None:
        if name == first:
            inside.set()
            # Hold the locks while the other half tries its numbers.
            threading.Event().wait(0.5)

    def worker(name: str) -> None:
        try:
            start.wait()
            if name != first:
                inside.wait(10)
            for inv, obj in halves[name]:
                [d] = loader.record(engine, [(inv, obj)], publish=lambda ds: publish(name, ds))
                results.setdefault(name, []).append(d)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for i, number in enumerate(numbers):
        kinds = sorted(str(results[name][i].kind) for name in halves)
        assert kinds == ["conflict", "loaded"], number
    with engine.connect() as conn:
        loaded = (
            conn.execute(select(documents.c.object_key).where(documents.c.status == "loaded"))
            .scalars()
            .all()
        )
        rows = dict(conn.execute(select(invoices.c.invoice_id, invoices.c.source_key)).all())
    assert sorted(loaded) == sorted(rows.values())
    assert len(rows) == len(numbers)
