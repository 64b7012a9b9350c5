"""The listing against `documents`: what was processed, and what SNS or a crashed run let fall.

SPEC section 11: an object version is processed when it has a `documents` row; it is
pending when it has none and was uploaded more than `older_than` ago (a younger one
is probably still on its way through the webhook). The listing is read a page at a
time and looked up with one query per page, so memory stays flat on any prefix:
only the pending versions are kept, since they are the answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from docproc import loader
from docproc.markdown import code, table
from docproc.models import ListedObject, ObjectRef, Status
from docproc.storage import bucket_required

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

DEFAULT_OLDER_THAN = timedelta(seconds=300)


@dataclass(frozen=True)
class ListedVersion:
    """An object's current version as the listing names it, with its upload time.

    `models.ListedObject` has no `last_modified`; reconcile needs it to tell a
    version still in flight from one that was dropped.
    """

    ref: ObjectRef
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class Recorded:
    """What `documents` says of one version: enough to count it."""

    status: str
    reasons: tuple[str, ...]


Lookup = Callable[[Sequence[ObjectRef]], Mapping[ObjectRef, Recorded]]


@dataclass
class Report:
    """Counts over the listing, and the pending versions themselves, oldest upload first.

    A rejected version counts once in `by_status` and once per reason in `by_reason`.
    """

    listed: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    recent: int = 0
    pending: list[ListedVersion] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return sum(self.by_status.values())

    @property
    def lagging(self) -> bool:
        """True when anything is pending: the command's exit status 1."""
        return bool(self.pending)

    def counts(self) -> dict[str, Any]:
        """The numbers alone, e.g. for the payload of `docproc.ingestion.lagging`."""
        return {
            "listed": self.listed,
            "processed": dict(sorted(self.by_status.items())),
            "rejected_by_reason": dict(sorted(self.by_reason.items())),
            "recent": self.recent,
            "pending": len(self.pending),
        }

    def table(self) -> str:
        """Plain text for a terminal: one line per status, reason, then each pending URI."""
        rows = [("listed", self.listed)]
        rows += [(f"processed: {s}", n) for s, n in sorted(self.by_status.items())]
        rows += [(f"  rejected for {r}", n) for r, n in sorted(self.by_reason.items())]
        rows += [("too recent to tell", self.recent), ("pending", len(self.pending))]
        width = max(len(label) for label, _ in rows)
        lines = [f"{label:<{width}}  {n:>9,}" for label, n in rows]
        for v in self.pending:
            uploaded = _aware(v.last_modified).astimezone(UTC)
            lines.append(f"  {v.ref.uri} (ETag {v.ref.etag}, {uploaded:%Y-%m-%dT%H:%M:%SZ})")
        return "\n".join(lines)

    def markdown(self, title: str, shown: int = 100) -> str:
        """The counts as tables for a Prefect artifact, and the first `shown` pending versions."""
        counts: list[tuple[str, int]] = [("listed", self.listed)]
        counts += [(f"processed: {s}", n) for s, n in sorted(self.by_status.items())]
        counts += [("too recent to tell", self.recent), ("**pending**", len(self.pending))]
        lines = [f"# {title}", "", table(["", "versions"], counts, "lr")]
        if self.by_reason:
            reasons = [(code(r), n) for r, n in sorted(self.by_reason.items())]
            lines += ["", table(["rejected for", "documents"], reasons, "lr")]
        if self.pending:
            pending: list[tuple[str, str, str]] = [
                (
                    code(v.ref.uri),
                    code(v.ref.etag),
                    f"{_aware(v.last_modified).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
                )
                for v in self.pending[:shown]
            ]
            if len(self.pending) > shown:
                pending.append((f"and {len(self.pending) - shown} more", "", ""))
            lines += ["", table(["pending version", "ETag", "uploaded"], pending)]
        return "\n".join(lines) + "\n"


def list_versions(
    client: S3Client, bucket: str, prefix: str, page_size: int = 1000
) -> Iterator[list[ListedVersion]]:
    """The current versions under a prefix, a page at a time, with their upload times."""
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
    )
    with bucket_required(bucket):
        for page in pages:
            yield [
                ListedVersion(
                    ObjectRef(bucket, o["Key"], o["ETag"].strip('"')),
                    int(o["Size"]),
                    o["LastModified"],
                )
                for o in page.get("Contents", [])
            ]


def lookup(engine: Engine, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Recorded]:
    """The `documents` rows of these versions: the backfill's one query per page."""
    return {
        ref: Recorded(status, tuple(reasons.split(",")) if reasons else ())
        for ref, (status, reasons) in loader.recorded_versions(engine, refs).items()
    }


def recorded_in(engine: Engine) -> Lookup:
    """`lookup` bound to a database, as `reconcile` takes it."""
    return lambda refs: lookup(engine, refs)


def _aware(moment: datetime) -> datetime:
    """S3's times are UTC and zone-aware; a naive `now` is taken as UTC too."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pending_in(
    page: Sequence[ListedVersion], found: Mapping[ObjectRef, Recorded], cutoff: datetime
) -> list[ListedVersion]:
    """The versions of a page with no row that were uploaded before `cutoff`.

    What `backfill --status pending` selects, page by page, as `reconcile` counts it.
    """
    cutoff = _aware(cutoff)
    return [v for v in page if v.ref not in found and _aware(v.last_modified) < cutoff]


def reconcile(
    pages: Iterable[Sequence[ListedVersion]],
    recorded: Lookup,
    *,
    now: datetime,
    older_than: timedelta = DEFAULT_OLDER_THAN,
) -> Report:
    """Compare a streamed listing with what `recorded` knows; one lookup per page.

    Pending: no row, and uploaded more than `older_than` before `now` (SPEC section 11).
    """
    cutoff = _aware(now) - older_than
    report = Report()
    for page in pages:
        if not page:
            continue
        report.listed += len(page)
        found = recorded([v.ref for v in page])
        for outcome in found.values():
            report.by_status[outcome.status] += 1
            if outcome.status == Status.REJECTED:
                report.by_reason.update(outcome.reasons)
        late = pending_in(page, found, cutoff)
        report.pending += late
        report.recent += len(page) - len(found) - len(late)
    report.pending.sort(key=lambda v: (_aware(v.last_modified), v.ref.key))
    return report


PENDING = "pending"
# What `backfill --status` selects: a status `documents` records, or what reconcile calls pending.
SELECTABLE: tuple[str, ...] = (Status.LOADED, Status.REJECTED, Status.DUPLICATE, PENDING)


def selected_pages(
    pages: Iterable[Sequence[ListedVersion]],
    recorded: Lookup,
    *,
    status: str,
    reasons: Collection[str] = (),
    cutoff: datetime,
    batch_size: int = 1000,
) -> Iterator[list[ListedObject]]:
    """The versions `backfill --status` reprocesses, a listing page at a time, in batches.

    A recorded status (and, when `reasons` are given, any one of them), or `pending`
    as `reconcile` counts it with this `cutoff`. One lookup per page: memory stays flat.
    """
    if status not in SELECTABLE:
        raise ValueError(f"unknown status {status!r} (expected one of {', '.join(SELECTABLE)})")
    wanted = set(reasons)
    batch: list[ListedObject] = []
    for page in pages:
        if not page:
            continue
        found = recorded([v.ref for v in page])
        if status == PENDING:
            chosen = pending_in(page, found, cutoff)
        else:
            chosen = [
                v
                for v in page
                if (r := found.get(v.ref)) is not None
                and r.status == status
                and (not wanted or not wanted.isdisjoint(r.reasons))
            ]
        batch += [ListedObject(v.ref, v.size) for v in chosen]
        while len(batch) >= batch_size:
            yield batch[:batch_size]
            batch = batch[batch_size:]
    if batch:
        yield batch
