"""`reconcile` on real parts: a moto bucket, MariaDB's `documents` filled by the real
`process-invoice` flow, and objects that no notification ever announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest

from docproc import reconcile
from docproc.errors import ObjectMissing
from docproc.models import ObjectRef
from flows.process_invoice import process_invoice
from tests.support.pipeline import Pipeline

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
# Rejected for three reasons: no 30 February, a total that does not add up, nor match its words.
BAD = SAMPLE.replace(b"Total: 8150", b"Total: 8100").replace(b"Mar 31 2018", b"Feb 30 2018")


def invoice(number: int) -> bytes:
    return SAMPLE.replace(b"inv-00001", f"inv-{number:05d}".encode())


def processed(pipeline: Pipeline, key: str) -> str:
    state = process_invoice(pipeline.source, key, return_state=True)
    outcome = state.result(raise_on_failure=False)
    assert outcome.status in {"loaded", "rejected"}, outcome
    return str(outcome.status)


def run(pipeline: Pipeline, prefix: str, now: datetime, older_than: int) -> reconcile.Report:
    pages = reconcile.list_versions(pipeline.s3, pipeline.source, prefix, page_size=2)
    return reconcile.reconcile(
        pages,
        reconcile.recorded_in(pipeline.engine),
        now=now,
        older_than=timedelta(seconds=older_than),
    )


@pytest.mark.usefixtures("prefect_api")
def test_reconcile_names_exactly_the_versions_nothing_processed(pipeline: Pipeline) -> None:
    for n, key in enumerate(["in/a.txt", "in/b.txt", "in/c.txt"], start=1):
        pipeline.upload(key, invoice(n))
    pipeline.upload("in/bad.txt", BAD)
    pipeline.upload("in/bad-too.txt", BAD.replace(b"inv-00001", b"inv-00009"))
    pipeline.upload("in/replaced.txt", invoice(4))
    outcomes = [
        processed(pipeline, key)
        for key in ["in/a.txt", "in/b.txt", "in/bad.txt", "in/bad-too.txt", "in/replaced.txt"]
    ]
    assert outcomes == ["loaded", "loaded", "rejected", "rejected", "loaded"]
    # Never announced: a new object, and a new version of one already processed.
    never = pipeline.upload("in/never.txt", invoice(5))
    newer = pipeline.upload("in/replaced.txt", invoice(6))
    # Outside the prefix: not counted at all.
    pipeline.upload("elsewhere/x.txt", invoice(7))

    report = run(pipeline, "in/", datetime.now(UTC) + timedelta(hours=1), older_than=300)

    assert report.listed == 7
    assert dict(report.by_status) == {"loaded": 2, "rejected": 2}
    assert report.processed == 4
    assert dict(report.by_reason) == {"bad_date": 2, "total_mismatch": 2, "words_mismatch": 2}
    assert [v.ref.key for v in report.pending] == ["in/c.txt", "in/never.txt", "in/replaced.txt"]
    c_etag = pipeline.s3.head_object(Bucket=pipeline.source, Key="in/c.txt")["ETag"].strip('"')
    assert {v.ref for v in report.pending} == {
        ObjectRef(pipeline.source, "in/c.txt", c_etag),
        ObjectRef(pipeline.source, "in/never.txt", never),
        ObjectRef(pipeline.source, "in/replaced.txt", newer),
    }
    assert report.lagging
    assert report.recent == 0
    assert report.counts()["pending"] == 3
    table = report.table()
    assert f"s3://{pipeline.source}/in/never.txt (ETag {never}," in table
    assert "in/a.txt" not in table

    # Processing the pending ones leaves nothing pending.
    for key in ["in/c.txt", "in/never.txt", "in/replaced.txt"]:
        processed(pipeline, key)
    after = run(pipeline, "in/", datetime.now(UTC) + timedelta(hours=1), older_than=300)
    assert after.pending == []
    assert not after.lagging
    assert after.processed == 7


def test_older_than_spares_the_versions_still_in_flight(pipeline: Pipeline) -> None:
    pipeline.upload("in/just-now.txt", invoice(1))
    uploaded = pipeline.s3.head_object(Bucket=pipeline.source, Key="in/just-now.txt")[
        "LastModified"
    ]

    # Uploaded no more than `older_than` before `now`: in flight, not pending.
    young = run(pipeline, "in/", uploaded + timedelta(seconds=300), older_than=300)
    assert (young.recent, young.pending, young.lagging) == (1, [], False)
    # Once more than `older_than` has passed, it is pending.
    old = run(pipeline, "in/", uploaded + timedelta(seconds=301), older_than=300)
    assert (old.recent, [v.ref.key for v in old.pending]) == (0, ["in/just-now.txt"])
    # A naive `now` is read as UTC.
    naive = uploaded.astimezone(UTC).replace(tzinfo=None) + timedelta(seconds=301)
    assert len(run(pipeline, "in/", naive, older_than=300).pending) == 1


def test_an_empty_prefix_reports_nothing_and_a_missing_bucket_says_so(
    pipeline: Pipeline,
) -> None:
    report = run(pipeline, "nothing-here/", datetime.now(UTC), older_than=0)
    assert (report.listed, report.processed, report.pending) == (0, 0, [])
    pages = reconcile.list_versions(pipeline.s3, f"{pipeline.source}-gone", "")
    with pytest.raises(ObjectMissing, match="does not exist"):
        reconcile.reconcile(pages, reconcile.recorded_in(pipeline.engine), now=datetime.now(UTC))


def test_a_lookup_per_page_never_the_whole_listing(pipeline: Pipeline) -> None:
    for n in range(5):
        pipeline.upload(f"in/{n}.txt", invoice(n))
    sizes: list[int] = []

    def counting(refs: list[ObjectRef]) -> dict[ObjectRef, reconcile.Recorded]:
        sizes.append(len(refs))
        return reconcile.lookup(pipeline.engine, refs)

    pages = reconcile.list_versions(pipeline.s3, pipeline.source, "in/", page_size=2)
    report = reconcile.reconcile(pages, counting, now=datetime.now(UTC), older_than=timedelta(0))
    assert sizes == [2, 2, 1]
    assert len(report.pending) == 5
