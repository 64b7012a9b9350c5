"""SPEC 12's answers where the rows are written: `docproc.reviews` on MariaDB and SQLite."""

from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from docproc import loader, reviews
from docproc.duplicates import Decision, Kind
from docproc.models import Item, ObjectRef
from docproc.reviews import Answer, Question
from docproc.schema import document_reviews, documents, invoice_items, invoice_taxes, invoices
from tests.support.builders import CHANGED, fetched, invoice


def ref(key: str) -> ObjectRef:
    return ObjectRef("src", key)


def doc(engine: Engine, key: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(documents).where(documents.c.object_key == key)).one()
    return dict(row._mapping)


def rows(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "invoices": conn.execute(
                select(invoices.c.invoice_id, invoices.c.source_key, invoices.c.total).order_by(
                    invoices.c.invoice_id
                )
            ).all(),
            "items": conn.execute(select(func.count()).select_from(invoice_items)).scalar(),
            "taxes": conn.execute(select(func.count()).select_from(invoice_taxes)).scalar(),
            "reviews": conn.execute(
                select(
                    document_reviews.c.document_id,
                    document_reviews.c.decision,
                    document_reviews.c.note,
                    document_reviews.c.decided_by,
                )
            ).all(),
        }


def held(engine: Engine) -> None:
    """a.txt loaded, b.txt held `conflicting_duplicate` of it."""
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    [d] = loader.record(engine, [(CHANGED, fetched("b.txt"))])
    assert d.kind == Kind.CONFLICT


def flagged(engine: Engine) -> None:
    """a.txt loaded, b.txt (inv-2) loaded and flagged `possible_duplicate` of it."""
    loader.record(engine, [(invoice(), fetched("a.txt"))])
    [d] = loader.record(engine, [(invoice(invoice_id="inv-2"), fetched("b.txt"))])
    assert d.flags == ("possible_duplicate",)


def test_open_questions_name_the_document_its_invoice_and_question(engine: Engine) -> None:
    held(engine)
    loader.record(engine, [(invoice(invoice_id="inv-2"), fetched("c.txt"))])
    found = reviews.open_questions(engine)
    assert [(c.ref.uri, c.question, c.invoice_id) for c in found] == [
        ("s3://src/b.txt", Question.CONFLICT, "inv-1"),
        ("s3://src/c.txt", Question.SUSPECT, "inv-2"),
    ]
    assert found[0].other == ObjectRef("src", "a.txt", "e")
    assert found[0].line() == (
        "s3://src/b.txt\tsm-1/inv-1\tconflict: conflicts with s3://src/a.txt\tkeep|replace"
    )


def test_keep_leaves_the_invoice_and_the_held_document_rejected_reviewed(engine: Engine) -> None:
    held(engine)
    before = rows(engine)["invoices"]
    done = reviews.decide(engine, ref("b.txt"), "keep", "called the vendor", "ann@example.com")
    assert not done.already
    b = doc(engine, "b.txt")
    assert (b["status"], b["reasons"], b["flags"]) == (
        "rejected",
        "conflicting_duplicate",
        "reviewed",
    )
    after = rows(engine)
    assert after["invoices"] == before
    assert after["reviews"] == [(b["id"], "keep", "called the vendor", "ann@example.com")]
    assert reviews.open_questions(engine) == []


def test_replace_loads_the_held_document_as_process_replace_does(engine: Engine) -> None:
    held(engine)
    published: list[Decision] = []
    done = reviews.decide(
        engine,
        ref("b.txt"),
        Answer.REPLACE,
        held=(CHANGED, fetched("b.txt")),
        publish=published.extend,
    )
    assert done.decision is not None and done.decision.kind == Kind.REPLACED
    assert published == [done.decision]  # its CSV, put before the commit
    b = doc(engine, "b.txt")
    assert (b["status"], b["reasons"], b["flags"]) == ("loaded", None, "reviewed")
    after = rows(engine)
    assert after["invoices"] == [("inv-1", "b.txt", Decimal("2350.00"))]
    assert after["items"] == 2
    assert after["reviews"] == [(b["id"], "replace", "", None)]


def test_replace_without_the_held_document_changes_nothing(engine: Engine) -> None:
    held(engine)
    before = rows(engine)
    with pytest.raises(reviews.HeldDocumentNeeded):
        reviews.decide(engine, ref("b.txt"), "replace")
    assert rows(engine) == before


def test_not_a_duplicate_clears_the_flag(engine: Engine) -> None:
    flagged(engine)
    before = rows(engine)["invoices"]
    reviews.decide(engine, ref("b.txt"), "not_a_duplicate", "two deliveries")
    b = doc(engine, "b.txt")
    assert (b["status"], b["flags"]) == ("loaded", "reviewed")
    assert rows(engine)["invoices"] == before
    assert reviews.open_questions(engine) == []


def test_duplicate_removes_the_invoice_and_its_csv(engine: Engine) -> None:
    flagged(engine)
    removed: list[tuple[str, str]] = []
    reviews.decide(engine, ref("b.txt"), "duplicate", remove_csv=lambda *k: removed.append(k))
    assert removed == [("sm-1", "inv-2")]
    a, b = doc(engine, "a.txt"), doc(engine, "b.txt")
    assert (b["status"], b["flags"], b["duplicate_of"]) == ("duplicate", "reviewed", a["id"])
    after = rows(engine)
    assert after["invoices"] == [("inv-1", "a.txt", Decimal("2300.00"))]
    assert (after["items"], after["taxes"]) == (2, 1)  # only inv-1's


def test_a_failed_csv_removal_leaves_everything_as_it_was(engine: Engine) -> None:
    flagged(engine)
    before = rows(engine)

    def fail(*_: str) -> None:
        raise OSError("S3 down")

    with pytest.raises(OSError):
        reviews.decide(engine, ref("b.txt"), "duplicate", remove_csv=fail)
    assert rows(engine) == before
    assert doc(engine, "b.txt")["flags"] == "possible_duplicate"


@pytest.mark.parametrize("second", ["keep", "replace"])
def test_deciding_twice_answers_the_first_decision(engine: Engine, second: str) -> None:
    held(engine)
    reviews.decide(engine, ref("b.txt"), "keep", "first")
    before = rows(engine)
    again = reviews.decide(engine, ref("b.txt"), second, "second", held=(CHANGED, fetched("b.txt")))
    assert again.already and again.review.decision is Answer.KEEP and again.review.note == "first"
    assert rows(engine) == before


def test_a_document_without_a_question_or_the_wrong_answer_is_refused(engine: Engine) -> None:
    flagged(engine)
    with pytest.raises(reviews.NoQuestion):
        reviews.decide(engine, ref("a.txt"), "keep")  # loaded, not flagged
    with pytest.raises(reviews.NoQuestion):
        reviews.decide(engine, ref("nothing.txt"), "keep")
    with pytest.raises(reviews.NotAnAnswer):
        reviews.decide(engine, ref("b.txt"), "keep")
    assert rows(engine)["reviews"] == []


@pytest.mark.parametrize("answer", ["keep", "replace", "not_a_duplicate"])
def test_a_decided_document_processed_again_stays_decided(engine: Engine, answer: str) -> None:
    """`process --force` (or a backfill --force) reads the version again: the person's
    answer stands, flag `reviewed` included, and a suspect cleared is not flagged again."""
    conflict = answer in ("keep", "replace")
    held(engine) if conflict else flagged(engine)
    body = CHANGED if conflict else invoice(invoice_id="inv-2")
    reviews.decide(engine, ref("b.txt"), answer, held=(body, fetched("b.txt")))
    decided = doc(engine, "b.txt")
    loader.record(engine, [(body, fetched("b.txt"))])
    again = doc(engine, "b.txt")
    assert (again["status"], again["reasons"], again["flags"]) == (
        decided["status"],
        decided["reasons"],
        "reviewed",
    )
    assert reviews.open_questions(engine) == []


def test_the_side_by_side_table_stays_small_and_says_what_each_answer_does() -> None:
    def lines(price: str) -> tuple[Item, ...]:
        return tuple(Item(n, f"part {n}", Decimal(price), None) for n in range(1, 201))

    old, new = invoice(items=lines("1.00")), invoice(items=lines("2.00"))
    case = reviews.Case(
        1, ref("b.txt"), Question.CONFLICT, "sm-1", "inv-1", ref("a.txt"), None, None
    )
    shown = reviews.side_by_side(case, old, new)
    table = [line for line in shown.splitlines() if line.startswith("| ")][1:]  # no header
    assert len(table) == reviews.MAX_DIFFERENCES + 1
    # 200 items and amount, net_total, total, payable differ.
    assert table[-1] == f"| ... and {204 - reviews.MAX_DIFFERENCES} more values | | |"
    assert "- `replace`: this document replaces the loaded invoice, rows and CSV" in shown
