"""The event that hands an S3 object to Prefect: its name and shape, defined once.

The webhook emits it, the `process-invoice` deployment's trigger in
`prefect.yaml` expects it, and a wiring test keeps the two in step.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from docproc.models import ObjectRef

OBJECT_CREATED = "docproc.s3.object.created"
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
