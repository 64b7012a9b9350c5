"""`review list` and `review decide` (SPEC section 12): the questions a person answers in
the Prefect UI, for scripts. A decision made here ends the document's waiting run."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from docproc.cli.common import EXIT_REJECTED, console, errors, fail, load_settings

if TYPE_CHECKING:
    from docproc.models import ObjectRef

app = typer.Typer(
    name="review",
    help="The held conflicts and flagged suspects waiting for a person's answer.",
    no_args_is_help=True,
)


@app.command("list")
def list_questions() -> None:
    """The open questions, one line each: the document, its invoice, the question, the
    answers it takes."""
    from docproc import reviews
    from tasks import resources

    load_settings()
    cases = reviews.open_questions(resources.engine())
    for case in cases:
        typer.echo(case.line())  # tab-separated, for scripts: not through rich
    if not cases:
        console.print("no open questions")


@app.command("decide")
def decide(
    uri: Annotated[
        str, typer.Argument(metavar="s3://BUCKET/KEY", help="The held or flagged document.")
    ],
    decision: Annotated[
        str, typer.Argument(metavar="DECISION", help="keep|replace|not_a_duplicate|duplicate")
    ],
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="Kept with the decision.")
    ] = "",
    by: Annotated[
        str | None,
        typer.Option(
            "--by", metavar="NAME", help="Who decided, kept with it. Default: your login name."
        ),
    ] = None,
) -> None:
    """Answer a document's question, as the Prefect UI's form does, and end its review run.

    Exit status: 0 decided (or decided before: the first decision stands), 1 the held
    document could not be read again, 2 no open question or not one of its answers.
    """
    from docproc import reviews, storage
    from docproc.errors import DocprocError
    from docproc.models import ObjectRef
    from tasks import review

    load_settings()
    try:
        answer = reviews.Answer(decision)
    except ValueError:
        fail(f"{decision!r} is not a decision: keep, replace, not_a_duplicate or duplicate")
    try:
        bucket, key = storage.parse_s3_uri(uri)
    except DocprocError as exc:
        fail(str(exc))
    try:
        done = review.apply(ObjectRef(bucket, key), answer, note, by or _login())
    except (reviews.NoQuestion, reviews.NotAnAnswer) as exc:
        fail(str(exc))
    except DocprocError as exc:
        fail(str(exc), EXIT_REJECTED)
    first = done.review
    if done.already:
        console.print(
            f"{done.case.ref.uri}: already decided {first.decision} at {first.decided_at}"
            + (f" ({first.note})" if first.note else "")
            + "; nothing changed",
            soft_wrap=True,
            markup=False,
        )
    else:
        console.print(
            f"{done.case.ref.uri}: {done.case.question} decided {first.decision}",
            soft_wrap=True,
            markup=False,
        )
    _end_run(done.case.ref, str(first.decision))


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name: a container's uid without a passwd entry
        return None


def _end_run(ref: ObjectRef, message: str) -> None:
    """Best effort: the decision is made; a run left waiting finds it when resumed."""
    from tasks import review

    try:
        review.end_review_run(ref, message)
    except Exception as exc:
        errors.print(f"warning: could not end the review run of {ref.uri}: {exc}", markup=False)
