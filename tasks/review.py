"""The review of a held conflict or a flagged suspect (SPEC 12): opening its run, and
applying an answer with what lives in S3 (the held document read again, a CSV put or
deleted). Plain functions, so that the `review` flow and `review decide` share them;
the decision itself is `docproc.reviews`'.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events import emit_event

from docproc import events, export, formats, loader, reviews, rules, storage
from docproc.duplicates import Decision
from docproc.errors import DocprocError, retried
from docproc.models import FetchedObject, Invoice, ObjectRef, Rejection
from docproc.outputs import decision_output
from tasks import resources, writer_slot

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

# The `review` deployment of prefect.yaml, as `run_deployment` names it (flow/deployment).
REVIEW_DEPLOYMENT = "review/review"
# A review run not yet answered: suspended, or not started yet.
WAITING = (StateType.PAUSED, StateType.SCHEDULED, StateType.PENDING)
RUNS_PAGE = 200  # the server's default (and usual maximum) limit of one read
OPEN_RETRY_SECONDS = (0.2, 0.5, 1, 2, 4, 8)
log = logging.getLogger("docproc.review")


def idempotency_key(ref: ObjectRef) -> str:
    """One review run per document version: a version processed again opens no second."""
    version = f"{ref.bucket}\n{ref.key}\n{ref.etag or ''}"
    return "docproc-review-" + hashlib.sha256(version.encode()).hexdigest()


def asks(decision: Decision) -> bool:
    """Whether the loader's decision leaves a question for a person (SPEC 12)."""
    return reviews.question_of_decision(decision) is not None


def open_review(ref: ObjectRef) -> str | None:
    """Create the `review` run of a held or flagged document version, once; returns its id.

    A busy API (SQLite's lock answers 503) is asked again for about 15 s: the idempotency
    key makes a creation that landed but lost its answer harmless. Beyond that, best
    effort, as the events are: the `documents` row is the record, `review list` shows
    the question even when no run could be opened.
    """
    from prefect.deployments import run_deployment

    def create() -> FlowRun:
        # Called from sync code, where Prefect's async_dispatch returns the run itself.
        return cast(
            FlowRun,
            run_deployment(
                REVIEW_DEPLOYMENT,
                parameters={"bucket": ref.bucket, "key": ref.key, "etag": ref.etag},
                timeout=0,
                idempotency_key=idempotency_key(ref),
                as_subflow=False,
            ),
        )

    def busy(exc: BaseException, wait: float) -> None:
        log.info(
            "Prefect API busy opening the review of %s (%s); again in %.1f s", ref.uri, exc, wait
        )

    try:
        run = retried(create, OPEN_RETRY_SECONDS, on_wait=busy)
    except Exception as exc:
        log.warning("could not open the review of %s: %s", ref.uri, exc)
        return None
    return str(run.id)


def open_reviews(decisions: Sequence[Decision]) -> None:
    """`open_review` for each decision that asks a question (the batch path's call)."""
    for decision in decisions:
        if asks(decision):
            open_review(decision.ref)


def read_held(ref: ObjectRef) -> tuple[Invoice, FetchedObject]:
    """The held document fetched again (that version) and judged, as `process` would."""
    settings = resources.settings()
    fetched = storage.fetch(resources.s3(), ref, settings.max_document_bytes)
    if fetched.body is None:
        raise reviews.HeldDocumentNeeded(f"{ref.uri}: too large to read again")
    pdf = resources.pdf_options_for([fetched.body])
    doc = formats.read(fetched.body, max_bytes=settings.max_document_bytes, pdf=pdf)
    verdict = rules.judge(doc, settings.official_rules)
    if isinstance(verdict, Rejection):
        raise reviews.HeldDocumentNeeded(
            f"{ref.uri}: no longer valid ({', '.join(verdict.reasons)}), cannot replace"
        )
    return verdict, fetched


def old_and_new(case: reviews.Case) -> tuple[Invoice | None, Invoice | None]:
    """What the review shows side by side: the loaded invoice (or the look-alike) and this
    document (read again when held, from its rows when loaded)."""
    engine = resources.engine()
    if case.question is reviews.Question.CONFLICT:
        old = loader.read_invoice(engine, case.issuer_key, case.invoice_id)
        try:
            new: Invoice | None = read_held(case.ref)[0]
        except DocprocError as exc:
            log.warning("could not read %s again: %s", case.ref.uri, exc)
            new = None
        return old, new
    other = (
        loader.read_invoice(engine, case.other_issuer_key, case.other_invoice_id)
        if case.other_issuer_key and case.other_invoice_id
        else None
    )
    return other, loader.read_invoice(engine, case.issuer_key, case.invoice_id)


def apply(
    ref: ObjectRef,
    answer: reviews.Answer | str,
    note: str = "",
    decided_by: str | None = None,
    flow_run_id: str | None = None,
) -> reviews.Decided:
    """Decide through the core, with S3's part: `replace` reads the held document again
    and puts its CSV, `duplicate` deletes the removed invoice's CSV, both before the
    commit; then `docproc.review.decided` is posted (not for a question decided before)."""
    settings = resources.settings()
    engine = resources.engine()
    answer = reviews.Answer(answer)
    case = reviews.find(engine, ref)
    held = None
    if case is not None and case.review is None and answer is reviews.Answer.REPLACE:
        held = read_held(case.ref)

    def publish(decisions: Sequence[Decision]) -> None:
        for d in decisions:
            if (out := decision_output(d, settings, flow_run_id, loader.now())) is not None:
                storage.put(resources.s3(), *out)

    def remove_csv(issuer_key: str, invoice_id: str) -> None:
        key = export.csv_key(settings.export_prefix, issuer_key, invoice_id)
        resources.s3().delete_object(Bucket=settings.target_bucket, Key=key)

    with writer_slot.database_writer():
        done = reviews.decide(
            engine,
            ref,
            answer,
            note,
            decided_by,
            held=held,
            publish=publish,
            remove_csv=remove_csv,
            flow_run_id=flow_run_id,
        )
    if not done.already:
        event = events.review_decided(
            done.case.issuer_key,
            done.case.invoice_id,
            done.case.ref,
            str(done.case.question),
            str(done.review.decision),
            done.review.note,
            done.review.decided_by,
            done.review.decided_at,
        )
        try:
            emit_event(**event)
        except Exception as exc:
            log.warning("could not send %s: %s", events.REVIEW_DECIDED, exc)
    return done


def review_runs(
    client: SyncPrefectClient, ref: ObjectRef | None, states: Sequence[StateType] | None = None
) -> list[FlowRun]:
    """The `review` runs of a document (all versions, or `ref.etag`'s; every document's
    without `ref`), in any of `states`.

    Read page by page: the server answers at most its default limit (200) a call, and a
    month-end can leave more runs waiting than that.
    """
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    deployment = client.read_deployment_by_name(REVIEW_DEPLOYMENT)
    wanted = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
        if states
        else None,
    )
    found: list[FlowRun] = []
    offset = 0
    while True:
        page = client.read_flow_runs(
            flow_run_filter=wanted, sort=FlowRunSort.ID_DESC, limit=RUNS_PAGE, offset=offset
        )
        found += [run for run in page if ref is None or _concerns(run, ref)]
        if len(page) < RUNS_PAGE:
            return found
        offset += RUNS_PAGE


def suspended_run_id(ref: ObjectRef) -> str | None:
    """The id of the document's review run waiting, suspended, for its form; else None."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = review_runs(client, ref, [StateType.PAUSED])
    return str(runs[0].id) if runs else None


def _concerns(run: FlowRun, ref: ObjectRef) -> bool:
    params = run.parameters
    if (params.get("bucket"), params.get("key")) != (ref.bucket, ref.key):
        return False
    return not ref.etag or params.get("etag") in (None, "", ref.etag)


def end_review_run(ref: ObjectRef, message: str) -> list[str]:
    """End the waiting `review` run(s) of this document `Completed` with the decision as
    message, when it was decided elsewhere (`review decide`); returns their ids. Without
    PREFECT_API_URL there is no server to ask.

    Forced: a suspended run cannot be resumed into `Completed` without its input, and
    the decision is already applied, so the run must not apply anything on its own.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Completed

    if not PREFECT_API_URL.value():
        return []  # no server named: no run to end (and none to start for it)
    ended = []
    with get_client(sync_client=True) as client:
        for run in review_runs(client, ref, WAITING):
            client.set_flow_run_state(run.id, Completed(message=message), force=True)
            ended.append(str(run.id))
    return ended


def expire_reviews(timeout: timedelta, now: datetime | None = None) -> list[str]:
    """End `Cancelled` the review runs suspended for `timeout` or longer, the documents
    left as they were (SPEC 12); returns their ids. The runs suspend without a timeout
    of Prefect's, whose server would end them `Failed`: `reconcile` calls this instead.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelled

    if not PREFECT_API_URL.value():
        return []
    now = now or datetime.now(UTC)
    hours = f"{timeout.total_seconds() / 3600:g}"
    ended = []
    with get_client(sync_client=True) as client:
        try:
            paused = review_runs(client, None, [StateType.PAUSED])
        except ObjectNotFound:
            return []  # no `review` deployment on this server: no review runs either
        for run in paused:
            if run.state is None or now - run.state.timestamp < timeout:
                continue
            message = f"unanswered for {hours} h (DOCPROC_REVIEW_TIMEOUT_HOURS): nothing changed"
            client.set_flow_run_state(run.id, Cancelled(message=message), force=True)
            ended.append(str(run.id))
    return ended
