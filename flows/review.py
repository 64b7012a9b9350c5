"""`review`: a person's answer to a held conflict or a flagged suspect, in the Prefect UI.

The run shows both documents side by side as its artifact, then suspends with
`wait_for_input`, so the UI shows a form with the answers of its question and a note.
Resumed, it applies the answer (`tasks.review.apply`, one transaction) and ends
`Completed` with the answer as its message. Suspension ends the process: a resumed run
starts again from the top, finds the same question and receives the input given.
Decided meanwhile (by `review decide`), it ends with that decision, changing nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed
from pydantic import Field

from docproc import reviews
from docproc.models import ObjectRef
from flows.naming import artifact_key, name_run, publish
from tasks import resources
from tasks import review as reviewing


class ConflictDecision(StrEnum):
    """keep: the loaded invoice stays. replace: this document replaces it, rows and CSV."""

    KEEP = "keep"
    REPLACE = "replace"


class SuspectDecision(StrEnum):
    """not_a_duplicate: both stay loaded. duplicate: this invoice is removed, rows and CSV."""

    NOT_A_DUPLICATE = "not_a_duplicate"
    DUPLICATE = "duplicate"


class ReviewInput(RunInput):
    """The form of the UI: an answer, a free-text note and who answered, kept with it.

    Who answered is asked: open-source Prefect does not say who resumed a run.
    """

    decision: ConflictDecision | SuspectDecision
    note: str = ""
    decided_by: str = Field("", title="Your name", max_length=200)


class ConflictReview(ReviewInput):
    decision: ConflictDecision


class SuspectReview(ReviewInput):
    decision: SuspectDecision


FORMS: dict[reviews.Question, type[ReviewInput]] = {
    reviews.Question.CONFLICT: ConflictReview,
    reviews.Question.SUSPECT: SuspectReview,
}


def _decided(case: reviews.Case, review: reviews.Review, already: bool) -> State[Any]:
    message = str(review.decision)
    get_run_logger().info(
        "%s %s: %s%s",
        case.ref.uri,
        case.question,
        message,
        " (decided before; nothing changed)" if already else "",
    )
    result: State[Any] = Completed(message=message)
    return result


@flow(name="review")
def review(bucket: str, key: str, etag: str | None = None) -> State[Any]:
    """Ask a person about one held or flagged document version, and apply the answer."""
    ref = ObjectRef(bucket, key, etag or None)
    case = reviews.find(resources.engine(), ref)
    if case is None:
        no: State[Any] = Cancelled(message=f"{ref.uri}: no question to decide")
        return no
    name_run(f"review: {case.issuer_key} / {case.invoice_id}")
    if case.review is not None:
        return _decided(case, case.review, already=True)
    old, new = reviewing.old_and_new(case)
    shown = reviews.side_by_side(case, old, new)
    publish(
        artifact_key("review", case.ref.bucket, case.ref.key),
        shown,
        f"Review: {case.issuer_key} / {case.invoice_id} ({case.question})",
    )
    # No timeout of Prefect's: its server ends an expired pause `Failed`, where SPEC 12
    # wants `Cancelled`; `reconcile` ends the runs left unanswered too long.
    # The form shows the same table above its fields: no need to find the artifact first.
    form = FORMS[case.question].with_initial_data(description=shown)
    answer = suspend_flow_run(wait_for_input=form, timeout=None, key="review")
    done = reviewing.apply(
        case.ref,
        str(answer.decision),
        answer.note,
        decided_by=answer.decided_by.strip() or None,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
    )
    return _decided(done.case, done.review, done.already)
