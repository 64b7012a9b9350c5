"""A person's answer to a held conflict or a flagged suspect (SPEC section 12), without Prefect.

A document rejected `conflicting_duplicate` and a loaded one flagged `possible_duplicate`
each ask a question; `decide` applies its answer, records it in `document_reviews` and
sets the flag `reviewed`, all in one transaction, so that deciding twice finds the first
answer and changes nothing. What lives in S3 is the caller's: the held document's bytes
for `replace` (read again and judged, as `process --replace` would) and the removal of
a duplicate's CSV, both done inside the transaction through callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from docproc import loader
from docproc.duplicates import Decision, Kind, business_values, differences
from docproc.errors import DocprocError
from docproc.markdown import cell
from docproc.models import FetchedObject, Flag, Invoice, ObjectRef, Reason, Status
from docproc.rows import key_sha256
from docproc.schema import document_reviews, documents, invoice_items, invoice_taxes, invoices


class Question(StrEnum):
    """What a person is asked about a document."""

    CONFLICT = "conflict"  # held `conflicting_duplicate`: keep the loaded invoice, or replace it
    SUSPECT = "suspect"  # loaded, flagged `possible_duplicate` of another number


class Answer(StrEnum):
    """The four answers of SPEC 12, two per question."""

    KEEP = "keep"
    REPLACE = "replace"
    NOT_A_DUPLICATE = "not_a_duplicate"
    DUPLICATE = "duplicate"


# What each answer does, as the review's artifact and form say it.
MEANING: dict[Answer, str] = {
    Answer.KEEP: "the loaded invoice stays; this document stays rejected",
    Answer.REPLACE: "this document replaces the loaded invoice, rows and CSV",
    Answer.NOT_A_DUPLICATE: "both stay loaded; the flag `possible_duplicate` goes",
    Answer.DUPLICATE: "this invoice is removed, rows and CSV; its document is recorded "
    "a duplicate of the other",
}
MAX_DIFFERENCES = 50  # rows of the side-by-side table; an artifact stays small

ANSWERS: dict[Question, tuple[Answer, Answer]] = {
    Question.CONFLICT: (Answer.KEEP, Answer.REPLACE),
    Question.SUSPECT: (Answer.NOT_A_DUPLICATE, Answer.DUPLICATE),
}


class NoQuestion(DocprocError):
    """The document asks nothing: not held, not flagged, or not recorded at all."""


class NotAnAnswer(DocprocError):
    """An answer of the other question (`duplicate` to a conflict, say)."""


class HeldDocumentNeeded(DocprocError):
    """`replace` needs the held document read again and judged valid."""


@dataclass(frozen=True)
class Review:
    """What was decided, by whom and when (a `document_reviews` row)."""

    decision: Answer
    note: str
    decided_by: str | None
    decided_at: datetime


@dataclass(frozen=True)
class Case:
    """A document's question and the document it concerns; `review` once answered."""

    document_id: int
    ref: ObjectRef
    question: Question
    issuer_key: str
    invoice_id: str
    other: ObjectRef | None
    other_issuer_key: str | None
    other_invoice_id: str | None
    review: Review | None = None

    @property
    def answers(self) -> tuple[Answer, Answer]:
        return ANSWERS[self.question]

    def line(self) -> str:
        """One line of `review list`: the document, its invoice, the question."""
        what = (
            f"conflicts with {self.other.uri if self.other else 'the loaded invoice'}"
            if self.question is Question.CONFLICT
            else f"resembles {self.other_issuer_key}/{self.other_invoice_id}"
            + (f" ({self.other.uri})" if self.other else "")
        )
        answers = "|".join(self.answers)
        invoice = f"{self.issuer_key}/{self.invoice_id}"
        return f"{self.ref.uri}\t{invoice}\t{self.question}: {what}\t{answers}"


@dataclass(frozen=True)
class Decided:
    """What `decide` did: `already` when the question had been answered before (then
    `review` is the first answer and nothing changed)."""

    case: Case
    review: Review
    already: bool
    decision: Decision | None = None  # the loader's, for `replace`


RemoveCsv = Callable[[str, str], None]


def question_of_decision(decision: Decision) -> Question | None:
    """The question the loader's decision leaves for a person, if any."""
    if decision.kind == Kind.CONFLICT:
        return Question.CONFLICT
    if decision.writes and decision.suspect_of is not None:
        return Question.SUSPECT
    return None


def _question(row: Row[Any]) -> Question | None:
    reasons = (row.reasons or "").split(",")
    flags = (row.flags or "").split(",")
    if row.status == Status.REJECTED and Reason.CONFLICTING_DUPLICATE in reasons:
        return Question.CONFLICT
    if row.status == Status.LOADED and Flag.POSSIBLE_DUPLICATE in flags:
        return Question.SUSPECT
    return None


_mine, _other = documents.alias("mine"), documents.alias("other")
_COLUMNS = (
    _mine.c.id,
    _mine.c.bucket,
    _mine.c.object_key,
    _mine.c.etag,
    _mine.c.status,
    _mine.c.reasons,
    _mine.c.flags,
    _mine.c.issuer_key,
    _mine.c.invoice_id,
    _other.c.bucket.label("o_bucket"),
    _other.c.object_key.label("o_key"),
    _other.c.etag.label("o_etag"),
    _other.c.issuer_key.label("o_issuer_key"),
    _other.c.invoice_id.label("o_invoice_id"),
    document_reviews.c.decision,
    document_reviews.c.note,
    document_reviews.c.decided_by,
    document_reviews.c.decided_at,
)


def _cases_query() -> Any:
    return (
        select(*_COLUMNS)
        .select_from(_mine)
        .outerjoin(_other, _other.c.id == _mine.c.duplicate_of)
        .outerjoin(document_reviews, document_reviews.c.document_id == _mine.c.id)
    )


def _case(row: Row[Any]) -> Case | None:
    question = _question(row) if row.decision is None else _decided_question(row.decision)
    if question is None:
        return None
    other = ObjectRef(row.o_bucket, row.o_key, row.o_etag or None) if row.o_bucket else None
    review = (
        None
        if row.decision is None
        else Review(Answer(row.decision), row.note, row.decided_by, row.decided_at)
    )
    return Case(
        row.id,
        ObjectRef(row.bucket, row.object_key, row.etag or None),
        question,
        row.issuer_key or "",
        row.invoice_id or "",
        other,
        row.o_issuer_key,
        row.o_invoice_id,
        review,
    )


def _decided_question(decision: str) -> Question:
    return next(q for q, answers in ANSWERS.items() if Answer(decision) in answers)


def open_questions(engine: Engine) -> list[Case]:
    """Every document still waiting for an answer, oldest first."""
    stmt = (
        _cases_query()
        .where(
            document_reviews.c.document_id.is_(None),
            (
                (_mine.c.status == str(Status.REJECTED))
                & _mine.c.reasons.contains(str(Reason.CONFLICTING_DUPLICATE))
            )
            | (
                (_mine.c.status == str(Status.LOADED))
                & _mine.c.flags.contains(str(Flag.POSSIBLE_DUPLICATE))
            ),
        )
        .order_by(_mine.c.id)
    )
    with engine.connect() as conn:
        return [case for row in conn.execute(stmt) if (case := _case(row)) is not None]


def find(engine: Engine, ref: ObjectRef) -> Case | None:
    """The question of this object (its given version, or else its latest one that asks
    or asked one), answered or not; None when it asks none."""
    with engine.connect() as conn:
        return _find(conn, ref)


def _find(conn: Connection, ref: ObjectRef, lock: bool = False) -> Case | None:
    stmt = _cases_query().where(
        _mine.c.bucket == ref.bucket, _mine.c.object_key_sha256 == key_sha256(ref.key)
    )
    if ref.etag:
        stmt = stmt.where(_mine.c.etag == ref.etag)
    rows = conn.execute(stmt.order_by(_mine.c.id.desc())).all()
    cases = [case for row in rows if (case := _case(row)) is not None]
    found = next((c for c in cases if c.review is None), cases[0] if cases else None)
    if found is not None and lock:
        # The document's row, locked: a second decision waits and then finds the first.
        conn.execute(
            select(documents.c.id).where(documents.c.id == found.document_id).with_for_update()
        )
        return _find(conn, found.ref)
    return found


def decide(
    engine: Engine,
    ref: ObjectRef,
    answer: Answer | str,
    note: str = "",
    decided_by: str | None = None,
    *,
    held: tuple[Invoice, FetchedObject] | None = None,
    publish: loader.Publish | None = None,
    remove_csv: RemoveCsv | None = None,
    flow_run_id: str | None = None,
) -> Decided:
    """Apply a person's answer to the question of `ref`, in one transaction (SPEC 12).

    `keep`: the held document stays rejected. `replace`: `held` (the held document read
    again and judged valid) replaces the invoice through `loader.record(replace=True)`,
    `publish` writing its CSV as `process --replace` does. `not_a_duplicate`: the flag
    `possible_duplicate` is cleared. `duplicate`: the invoice's rows are removed
    (`remove_csv` deletes its CSV before the commit) and its document becomes a
    `duplicate` of the other. Each sets `reviewed` and records the answer; a question
    answered before is returned `already`, unchanged. Raises NoQuestion, NotAnAnswer.
    """
    answer = Answer(answer)
    case = find(engine, ref)
    if case is None:
        raise NoQuestion(f"{ref.uri}: no held conflict or flagged suspect to decide")
    if case.review is not None:
        return Decided(case, case.review, already=True)
    if answer not in case.answers:
        raise NotAnAnswer(
            f"{ref.uri} is a {case.question}: answer {' or '.join(case.answers)}, not {answer}"
        )
    review = Review(answer, note, decided_by, loader.now())
    try:
        if answer is Answer.REPLACE:
            return _replace(engine, case, review, held, publish, flow_run_id)
        with engine.begin() as conn:
            current = _find(conn, case.ref, lock=True)
            if current is None or current.review is not None:
                raise _Already()
            _apply(conn, current, review, remove_csv)
            _record_review(conn, current.document_id, review)
        return Decided(current, review, already=False)
    except (_Already, IntegrityError) as exc:
        # Decided meanwhile by someone else (the UI and the command at once).
        first = find(engine, case.ref)
        if first is None or first.review is None:
            raise exc from None
        return Decided(first, first.review, already=True)


class _Already(Exception):
    """Another decision was committed between the look and the lock."""


def _replace(
    engine: Engine,
    case: Case,
    review: Review,
    held: tuple[Invoice, FetchedObject] | None,
    publish: loader.Publish | None,
    flow_run_id: str | None,
) -> Decided:
    if held is None:
        raise HeldDocumentNeeded(f"{case.ref.uri}: replace needs the held document read again")
    invoice, fetched = held
    if fetched.ref.etag and case.ref.etag and fetched.ref.etag != case.ref.etag:
        raise HeldDocumentNeeded(
            f"{case.ref.uri}: the object changed since it was held (ETag {fetched.ref.etag})"
        )

    def within(conn: Connection, _: Sequence[Decision]) -> None:
        # The row is the replacement's now (same id); the question is gone with its status.
        answered = select(document_reviews.c.document_id).where(
            document_reviews.c.document_id == case.document_id
        )
        if conn.execute(answered.with_for_update()).first() is not None:
            raise _Already()
        _set_flags(conn, case.document_id, add=Flag.REVIEWED)
        _record_review(conn, case.document_id, review)

    [decision] = loader.record(
        engine,
        loaded=[(invoice, fetched)],
        flow_run_id=flow_run_id,
        replace=True,
        publish=publish,
        within=within,
    )
    return Decided(case, review, already=False, decision=decision)


def _apply(conn: Connection, case: Case, review: Review, remove_csv: RemoveCsv | None) -> None:
    if review.decision is Answer.KEEP:
        _set_flags(conn, case.document_id, add=Flag.REVIEWED)
    elif review.decision is Answer.NOT_A_DUPLICATE:
        _set_flags(conn, case.document_id, add=Flag.REVIEWED, drop=Flag.POSSIBLE_DUPLICATE)
    else:  # DUPLICATE: its invoice goes, if its rows are still this document's
        key = (case.issuer_key, case.invoice_id)
        source = and_(
            invoices.c.issuer_key == case.issuer_key,
            invoices.c.invoice_id == case.invoice_id,
            invoices.c.source_bucket == case.ref.bucket,
            invoices.c.source_key == case.ref.key,
            invoices.c.source_etag == (case.ref.etag or ""),
        )
        if conn.execute(select(exists().where(source))).scalar():
            for child in (invoice_items, invoice_taxes):
                conn.execute(
                    delete(child).where(child.c.issuer_key == key[0], child.c.invoice_id == key[1])
                )
            conn.execute(delete(invoices).where(source))
            if remove_csv is not None:
                remove_csv(*key)
        conn.execute(
            update(documents)
            .where(documents.c.id == case.document_id)
            .values(status=str(Status.DUPLICATE))
        )
        _set_flags(conn, case.document_id, add=Flag.REVIEWED, drop=Flag.POSSIBLE_DUPLICATE)


def _set_flags(conn: Connection, document_id: int, add: Flag, drop: Flag | None = None) -> None:
    flags = conn.execute(
        select(documents.c.flags).where(documents.c.id == document_id)
    ).scalar_one_or_none()
    conn.execute(
        update(documents)
        .where(documents.c.id == document_id)
        .values(flags=loader.with_flag(flags, add, drop))
    )


def _record_review(conn: Connection, document_id: int, review: Review) -> None:
    conn.execute(
        document_reviews.insert().values(
            document_id=document_id,
            decision=str(review.decision),
            note=review.note,
            decided_by=review.decided_by,
            decided_at=review.decided_at,
        )
    )


def side_by_side(case: Case, old: Invoice | None, new: Invoice | None) -> str:
    """The review's artifact: both documents, linked, and every value that differs, old
    (the loaded invoice, or the look-alike) and new (this document)."""
    mine = f"[{case.ref.uri}]({case.ref.uri})"
    theirs = f"[{case.other.uri}]({case.other.uri})" if case.other else "(unknown)"
    if old is not None and new is not None:
        # Compared as the loader compares them (`1.5` is `1.50`), so that a quantity read
        # back from its column is not shown as changed.
        differ = [(d.field, d.old, d.new) for d in differences(old, new)]
    else:  # a side that could not be read: every value of the other against ''
        before = business_values(old) if old is not None else {}
        after = business_values(new) if new is not None else {}
        differ = [(n, before.get(n, ""), after.get(n, "")) for n in [*before, *after]]
    ask = (
        "It was held: its values differ from the loaded invoice under the same number."
        if case.question is Question.CONFLICT
        else "It was loaded and flagged: another number has the same total, currency and date."
    )

    lines = [
        f"# Review: {case.issuer_key} / {case.invoice_id}",
        "",
        f"**{case.question}**: {ask}",
        "",
        f"- this document (new): {mine}",
        f"- {'loaded' if case.question is Question.CONFLICT else 'look-alike'} (old): {theirs}",
        "",
        "Answers:",
        *(f"- `{a}`: {MEANING[a]}" for a in case.answers),
        "",
        "| value | old | new |",
        "|---|---|---|",
        *(
            f"| {cell(n)} | {cell(o) or ' '} | {cell(v) or ' '} |"
            for n, o, v in differ[:MAX_DIFFERENCES]
        ),
    ]
    if not differ:
        lines.append("| (no value differs) | | |")
    elif len(differ) > MAX_DIFFERENCES:
        lines.append(f"| ... and {len(differ) - MAX_DIFFERENCES} more values | | |")
    return "\n".join(lines) + "\n"
