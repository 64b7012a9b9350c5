"""`backfill-prefix` over a few hundred mixed documents, on moto, MariaDB and Prefect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from docproc import storage
from docproc.cli import app
from docproc.summary import Summary
from flows.backfill import backfill_prefix
from tests.support.archive import COUNT, document, invalid, key, rows
from tests.support.faultproxy import FaultProxy
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def archive(pipeline: Pipeline) -> Pipeline:
    for i in range(COUNT):
        pipeline.upload(key(i), document(i))
    pipeline.upload("elsewhere/not-in-prefix.txt", document(0))
    return pipeline


def backfill(pipeline: Pipeline, batch_size: int = 50, **params: Any) -> tuple[Any, Summary]:
    state = backfill_prefix(
        pipeline.source, "archive/", batch_size=batch_size, return_state=True, **params
    )
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, Summary), summary
    return state, summary


def test_backfill_loads_rejects_skips_and_forces(archive: Pipeline) -> None:
    rejected = [i for i in range(COUNT) if invalid(i)]
    state, summary = backfill(archive)

    assert state.is_completed(), state.message
    assert summary.listed == COUNT
    assert dict(summary.statuses) == {"loaded": COUNT - len(rejected), "rejected": len(rejected)}
    assert summary.reasons == {"bad_date": len(rejected)}
    first = rows(archive)
    assert len(first["invoices"]) == COUNT - len(rejected)
    assert len(first["invoice_items"]) == 5 * (COUNT - len(rejected))
    assert len(first["documents"]) == COUNT
    keys = set(archive.target_keys())
    for i in range(COUNT):
        expected = f"rejected/{key(i)}.json" if invalid(i) else f"cust-{i % 13}/inv-{i:05d}.csv"
        assert expected in keys
    report = json.loads(archive.read_target(f"rejected/{key(3)}.json"))
    assert (report["key"], report["reasons"]) == (key(3), ["bad_date"])
    assert len(keys) == COUNT

    _, again = backfill(archive)
    assert dict(again.statuses) == {"skipped": COUNT}
    assert rows(archive) == first

    _, forced = backfill(archive, force=True)
    assert forced.statuses["loaded"] == COUNT - len(rejected)
    assert rows(archive) == first
    assert len(archive.target_keys()) == COUNT


def test_faults_in_the_middle_are_retried_to_the_same_end_state(
    archive: Pipeline,
    s3_faults: FaultProxy,
    db_faults: FaultProxy,
    moto_endpoint: str,
    mysql_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks import resources

    # A GET in the third batch and the second batch's bulk insert lose their connection.
    s3_faults.drop_when(f"GET /{archive.source}/archive/2024/0120".encode(), times=2)
    db_faults.drop_when(b"INSERT INTO invoice_items", times=1)
    state, summary = backfill(archive)
    assert (s3_faults.dropped, db_faults.dropped) == (2, 1)
    assert state.is_completed(), state.message
    assert summary.statuses["failed"] == 0
    faulty = rows(archive)

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("DOCPROC_DATABASE_URL", mysql_url)
    resources.reset()
    _, clean = backfill(archive, force=True)
    assert clean.statuses == summary.statuses
    assert rows(archive) == faulty


FLAPPING = 86  # documents: a batch of 60 and one of 26
LIFETIME = 0.3  # seconds, the mean of every connection's random lifetime


def test_a_flapping_network_splits_the_batch_load_until_it_goes_through(
    pipeline: Pipeline,
    s3_faults: FaultProxy,
    db_faults: FaultProxy,
    moto_endpoint: str,
    mysql_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every MySQL and S3 connection dies after a random lifetime: a batch's one transaction
    outlives its connection every time, its halves and single documents do not."""
    from tasks import resources

    for i in range(FLAPPING):
        pipeline.upload(key(i), document(i))
    # boto3 retries as configured by default (the listing has no other retry).
    monkeypatch.setenv("DOCPROC_S3_MAX_ATTEMPTS", "4")
    resources.reset()
    s3_faults.cut_after(LIFETIME, seed=1)
    db_faults.cut_after(LIFETIME, seed=2)
    state, summary = backfill(pipeline, batch_size=60)
    assert db_faults.cut > 0 and s3_faults.cut > 0
    assert summary.statuses["failed"] == 0, summary.failures
    assert state.is_completed(), state.message
    faulty = rows(pipeline)

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("DOCPROC_DATABASE_URL", mysql_url)
    resources.reset()
    _, clean = backfill(pipeline, batch_size=60, force=True)
    assert clean.statuses == summary.statuses
    assert rows(pipeline) == faulty
    assert len(faulty["invoices"]) == summary.statuses["loaded"]
    assert len(faulty["documents"]) == FLAPPING
    assert len(pipeline.target_keys()) == FLAPPING


def test_a_batch_whose_fetch_fails_fails_alone(pipeline: Pipeline, s3_faults: FaultProxy) -> None:
    """Its load never runs (Prefect leaves it pending): the backfill still ends with a
    summary, the batch's documents `failed` with the fetch's error, the others done."""
    for i in range(30):
        pipeline.upload(key(i), document(i))
    s3_faults.drop_when(f"GET /{pipeline.source}/archive/2024/0015".encode(), times=100)
    state, summary = backfill(pipeline, batch_size=10)
    # The first try and the fetch task's three retries, each trying the object 5 times.
    assert s3_faults.dropped == 4 * (len(storage.OBJECT_WAITS) + 1)
    assert state.is_failed()
    assert summary.statuses["failed"] == 10
    assert summary.statuses["loaded"] + summary.statuses["rejected"] == 20
    assert all("ConnectionClosedError" in error for _, error in summary.failures)


def test_backfill_command_prints_a_summary_and_exits_1_on_rejections(archive: Pipeline) -> None:
    result = CliRunner().invoke(
        app, ["backfill", f"s3://{archive.source}/archive/", "--batch-size", "100"]
    )
    assert result.exit_code == 1, result.output
    assert f"{COUNT} objects listed" in result.output
    assert "bad_date" in result.output
    again = CliRunner().invoke(app, ["backfill", f"s3://{archive.source}/archive/"])
    assert again.exit_code == 0, again.output
    missing = CliRunner().invoke(app, ["backfill", "s3://no-such-bucket-zz/x"])
    assert missing.exit_code == 2
    assert "bucket s3://no-such-bucket-zz does not exist" in missing.output


def test_threads_asking_at_once_share_one_engine(pipeline: Pipeline) -> None:
    """The backfill builds the engine in a thread while it lists; its first task asks too."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks import resources

    resources.prepare_engine()
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _: resources.engine(), range(8)))
    assert len({id(e) for e in engines}) == 1


def test_a_prefix_small_enough_to_keep_is_listed_once(archive: Pipeline) -> None:
    """The counting pass's listing is the one the batches are cut from."""
    from tasks import resources

    calls: list[str] = []
    resources.s3().meta.events.register(
        "before-call.s3.ListObjectsV2", lambda model, **_: calls.append(model.name)
    )
    state, summary = backfill(archive)
    assert state.is_completed(), state.message
    assert summary.listed == COUNT
    assert calls == ["ListObjectsV2"]
