"""The events that hand S3 objects to Prefect: their names and shapes, defined once.

The webhook creates each run itself (deployments/handover.py) and then emits
`docproc.s3.objects.created` for the objects it handed over, naming their run, for the
Event feed and users' automations. `docproc.s3.object.created` is the event of one
upload as others send it (a Prefect Cloud webhook, README): the trigger of
`process-invoice` in `prefect.yaml` turns it into a run. Wiring tests keep them in step.

The loader's alerts of SPEC section 10 (a conflict held, a suspect flagged) are
defined here too, for the automations in `automations/`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from docproc.batching import chunks
from docproc.duplicates import Decision, Kind, LoadedDocument
from docproc.ids import path_segment
from docproc.models import FindingFlag, ObjectRef

OBJECT_CREATED = "docproc.s3.object.created"
# Objects of one bucket handed over to one run by the webhook (one, or a group that
# arrived together, docproc/grouping.py): for the Event feed and automations, no trigger's.
OBJECTS_CREATED = "docproc.s3.objects.created"
# Prefect takes at most 100 related resources per event: some of a group's objects and
# its run. A larger group gets an event per 99 of its objects.
MAX_OBJECTS_PER_EVENT = 99
RESOURCE_PREFIX = "s3://"
# Fixed namespace: the same object version always yields the same event id, so
# Prefect's own de-duplication collapses repeated deliveries of it.
_NAMESPACE = uuid.UUID("5b0c3b8e-6f0e-4f59-9a4e-0c7d3a1f2e61")

# How the trigger maps the event onto the flow's parameters (Jinja, rendered by Prefect).
TRIGGER_PARAMETERS = {
    "bucket": "{{ event.payload.bucket }}",
    "key": "{{ event.payload.key }}",
    "etag": "{{ event.payload.etag }}",
}


def event_id(ref: ObjectRef) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{ref.bucket}\n{ref.key}\n{ref.etag or ''}")


def object_created(ref: ObjectRef, occurred: datetime | None = None) -> dict[str, Any]:
    """The event as Prefect's `POST /events` takes it (JSON-ready)."""
    return {
        "id": str(event_id(ref)),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": OBJECT_CREATED,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{ref.bucket}/{ref.key}",
            "prefect.resource.name": ref.key,
            "docproc.bucket": ref.bucket,
            "docproc.etag": ref.etag or "",
        },
        "related": [],
        "payload": {"bucket": ref.bucket, "key": ref.key, "etag": ref.etag or ""},
    }


# Emitted by the `reconcile` deployment when versions under a prefix have no
# `documents` row long after their upload (SPEC section 11), for an automation to alert on.
INGESTION_LAGGING = "docproc.ingestion.lagging"


def ingestion_lagging(bucket: str, prefix: str, counts: dict[str, Any]) -> dict[str, Any]:
    """`docproc.ingestion.lagging` for a prefix, with reconcile's counts as its payload.

    The keyword arguments of Prefect's `emit_event`; the resource names the prefix.
    """
    return {
        "event": INGESTION_LAGGING,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{bucket}/{prefix}",
            "prefect.resource.name": f"{RESOURCE_PREFIX}{bucket}/{prefix}",
            "docproc.bucket": bucket,
            "docproc.prefix": prefix,
        },
        "payload": counts,
    }


def group_id(refs: Sequence[ObjectRef]) -> uuid.UUID:
    """The same group of versions always yields the same id, in whatever order it came."""
    lines = sorted(f"{r.bucket}\n{r.key}\n{r.etag or ''}" for r in refs)
    return uuid.uuid5(_NAMESPACE, "\n\n".join(lines))


def objects_created(
    bucket: str,
    refs: Sequence[ObjectRef],
    occurred: datetime | None = None,
    flow_run_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """One event for a group of objects of `bucket`: each is named as a related resource
    (so the event's page lists them) and in the payload as [key, etag] pairs; so is the
    group's `process-batch` run, when given."""
    if any(r.bucket != bucket for r in refs):
        raise ValueError(f"a group event names objects of {bucket} only")
    related = [
        {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{r.bucket}/{r.key}",
            "prefect.resource.role": "object",
            "docproc.etag": r.etag or "",
        }
        for r in refs
    ]
    if flow_run_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    return {
        "id": str(group_id(refs)),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": OBJECTS_CREATED,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{bucket}",
            "prefect.resource.name": f"{len(refs)} objects",
            "docproc.bucket": bucket,
        },
        "related": related,
        "payload": {"bucket": bucket, "objects": object_pairs(refs)},
    }


def object_pairs(refs: Sequence[ObjectRef]) -> list[list[str]]:
    """[key, etag] pairs: a group event's payload and its `process-batch` run's `objects`."""
    return [[r.key, r.etag or ""] for r in refs]


def goes_as_group(group: Sequence[ObjectRef]) -> bool:
    """Several objects of a bucket go as one group, to one `process-batch` run; a lone one
    gets its own `process-invoice` run (the fast path, and the run a user looks for)."""
    return len(group) > 1


def by_bucket(refs: Sequence[ObjectRef]) -> dict[str, list[ObjectRef]]:
    """`refs` by bucket, in the order they came."""
    out: dict[str, list[ObjectRef]] = {}
    for ref in refs:
        out.setdefault(ref.bucket, []).append(ref)
    return out


def handed_over(
    refs: Sequence[ObjectRef], flow_runs: Mapping[str, uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """The events for objects handed over together: per bucket, one per 99 of its objects
    (`MAX_OBJECTS_PER_EVENT`), each naming them and its bucket's run in `flow_runs`, if any.
    Cut in key order, so that a group delivered again in another order gives the same
    events (their ids are their objects'), which the server stores once."""
    runs = flow_runs or {}
    return [
        objects_created(bucket, part, flow_run_id=runs.get(bucket))
        for bucket, group in by_bucket(refs).items()
        for part in chunks(sorted(group, key=_version), MAX_OBJECTS_PER_EVENT)
    ]


def _version(ref: ObjectRef) -> tuple[str, str]:
    return ref.key, ref.etag or ""


# SPEC section 10: what the loader held or flagged, for automations to act on.
INVOICE_CONFLICT = "docproc.invoice.conflict"
INVOICE_SUSPECT = "docproc.invoice.suspect"
# SPEC 3.1: a loaded invoice that a fatal finding of the official rules flags nonconformant.
INVOICE_NONCONFORMANT = "docproc.invoice.nonconformant"
INVOICE_RESOURCE_PREFIX = "docproc.invoice/"
# An event stays small: the rule ids all, the findings themselves the first few.
MAX_EVENT_FINDINGS = 20


def invoice_resource_id(issuer_key: str, invoice_id: str) -> str:
    """The invoice as a Prefect resource: each id one percent-encoded segment."""
    return f"{INVOICE_RESOURCE_PREFIX}{path_segment(issuer_key)}/{path_segment(invoice_id)}"


def _document(doc: LoadedDocument) -> dict[str, Any]:
    return {
        "uri": doc.uri,
        "bucket": doc.ref.bucket,
        "key": doc.ref.key,
        "etag": doc.ref.etag or "",
        "invoice_id": doc.invoice_id,
        "document_id": doc.id,
    }


def invoice_events(decision: Decision) -> list[dict[str, Any]]:
    """The events a judged invoice sends, as `emit_event`'s keyword arguments (JSON-ready)."""
    inv = decision.invoice
    this = _document(LoadedDocument(decision.ref, inv.invoice_id))
    resource = {
        "prefect.resource.id": invoice_resource_id(inv.issuer_key, inv.invoice_id),
        "prefect.resource.name": f"{inv.issuer_key}/{inv.invoice_id}",
        "docproc.issuer_key": inv.issuer_key,
        "docproc.invoice_id": inv.invoice_id,
    }
    out = []
    if decision.kind == Kind.CONFLICT and decision.other is not None:
        out.append(
            {
                "event": INVOICE_CONFLICT,
                "resource": resource,
                "payload": {
                    "loaded": _document(decision.other),
                    "document": this,
                    "differences": [
                        {"field": d.field, "old": d.old, "new": d.new} for d in decision.differences
                    ],
                },
            }
        )
    if decision.suspect_of is not None:
        out.append(
            {
                "event": INVOICE_SUSPECT,
                "resource": resource,
                "payload": {
                    "document": this,
                    "resembles": _document(decision.suspect_of),
                    "total": str(inv.total),
                    "currency": inv.currency or "",
                    "invoice_date": inv.invoice_date.isoformat(),
                },
            }
        )
    fatal = [f for f in inv.findings if f.flag is FindingFlag.FATAL]
    if fatal and decision.writes:
        out.append(
            {
                "event": INVOICE_NONCONFORMANT,
                "resource": resource,
                "payload": {
                    "document": this,
                    "rules": sorted({f.rule for f in fatal}),
                    "findings": [
                        {"rule": f.rule, "location": f.location, "message": f.message}
                        for f in fatal[:MAX_EVENT_FINDINGS]
                    ],
                },
            }
        )
    return out


# SPEC 12: a person answered a held conflict or a flagged suspect (UI or `review decide`).
REVIEW_DECIDED = "docproc.review.decided"


def review_decided(
    issuer_key: str,
    invoice_id: str,
    document: ObjectRef,
    question: str,
    decision: str,
    note: str,
    decided_by: str | None,
    decided_at: datetime,
) -> dict[str, Any]:
    """`docproc.review.decided` as `emit_event`'s keyword arguments (JSON-ready)."""
    return {
        "event": REVIEW_DECIDED,
        "resource": {
            "prefect.resource.id": invoice_resource_id(issuer_key, invoice_id),
            "prefect.resource.name": f"{issuer_key}/{invoice_id}",
            "docproc.issuer_key": issuer_key,
            "docproc.invoice_id": invoice_id,
        },
        "payload": {
            "document": {
                "uri": document.uri,
                "bucket": document.bucket,
                "key": document.key,
                "etag": document.etag or "",
            },
            "question": question,
            "decision": decision,
            "note": note,
            "decided_by": decided_by,
            "decided_at": decided_at.isoformat(),
        },
    }
