"""`process-invoice`: one S3 object: fetch, parse, validate, then export and load, or reject."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from docproc import export as exporter
from docproc.errors import DocprocError, Superseded
from docproc.ids import is_id
from docproc.models import Invoice, ObjectRef, Outcome, ParsedDocument, Rejection, Status
from flows.naming import artifact_key
from tasks.pipeline import check_processed, export, fetch, load, parse, reject, validate


def _rename(ref: ObjectRef, doc: ParsedDocument) -> None:
    """Name the run after the invoice once it is known, e.g. `inv-00001 from s3://b/k`."""
    invoice_id = doc.fields.get("invoice_id", "")
    if not is_id(invoice_id) or flow_run.id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=f"{invoice_id} from {ref.uri}")
    except Exception as exc:  # a cosmetic step must never fail the load
        get_run_logger().warning("could not rename the run: %s", exc)


def _finish(state: type[Any], outcome: Outcome) -> State[Outcome]:
    get_run_logger().info("%s: %s", outcome.uri, outcome.message)
    result: State[Outcome] = state(message=outcome.message, data=outcome)
    return result


@flow(name="process-invoice", flow_run_name="s3://{bucket}/{key}")
def process_invoice(
    bucket: str, key: str, etag: str | None = None, force: bool = False
) -> State[Outcome]:
    """Load one invoice document from S3 into MySQL and export its CSV, or reject it."""
    ref = ObjectRef(bucket, key, etag or None)
    fetched_state = fetch(ref, return_state=True)
    fetched = fetched_state.result(raise_on_failure=False)
    if isinstance(fetched, Superseded):
        return _finish(Completed, Outcome(Status.SKIPPED, ref.uri, str(fetched)))
    if isinstance(fetched, DocprocError):
        return _finish(Failed, Outcome(Status.FAILED, ref.uri, str(fetched)))
    if isinstance(fetched, BaseException):
        raise fetched

    if not force and (record := check_processed(fetched.ref)) is not None:
        message = f"already {record.status} (ETag {fetched.ref.etag}): nothing to do"
        return _finish(Completed, Outcome(Status.SKIPPED, ref.uri, message, record.reasons))

    doc = parse(fetched)
    _rename(ref, doc)
    verdict = validate(doc, return_state=True).result(raise_on_failure=False)
    if isinstance(verdict, Rejection):
        report_uri = reject(fetched.ref, verdict)
        create_markdown_artifact(
            key=artifact_key("rejection", ref.bucket, ref.key),
            markdown=exporter.rejection_markdown(fetched.ref, verdict, report_uri),
            description=f"Rejected {ref.uri}",
        )
        codes = ", ".join(verdict.reasons)
        return _finish(
            Failed,
            Outcome(Status.REJECTED, ref.uri, f"rejected: {codes}", verdict.reasons, report_uri),
        )
    if not isinstance(verdict, Invoice):
        raise verdict

    csv_uri = export(verdict, fetched.ref)
    load(verdict, fetched)
    create_markdown_artifact(
        key=artifact_key("invoice", verdict.issuer_key, verdict.invoice_id),
        markdown=exporter.invoice_markdown(verdict, ref.uri, csv_uri),
        description=f"Invoice {verdict.invoice_id} from {ref.uri}",
    )
    message = (
        f"loaded {verdict.issuer_key}/{verdict.invoice_id}: "
        f"{len(verdict.items)} items, total {verdict.total:.2f}"
    )
    return _finish(Completed, Outcome(Status.LOADED, ref.uri, message, output=csv_uri))
