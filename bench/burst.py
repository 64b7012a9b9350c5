"""A burst of uploads through the event path, against a backfill of as many on the same `serve`.

One `docproc serve` (webhook + runner, on the Prefect server given), provisioned as a
user would. First the baseline: `python -m docproc backfill` of N other documents in
another bucket, through the same Prefect server. Then the burst: N uploads at once
(100 threads of S3 PUTs) to the provisioned bucket; the clock runs from the first PUT
until every object version has its `documents` row. Lost: versions without a row at the
end. Doubled: versions named by more than one flow run, or recorded twice.

SNS delivers as AWS does (bench/sns_relay.py: asynchronously, with high concurrency,
and retried on the subscription's delivery policy); `--moto-delivery` keeps moto's own,
which delivers inside each PUT and never retries, so that the webhook's hold on a
delivery holds the uploader too, and a refused delivery is lost.

Run alone: `.venv/bin/python -m bench.burst --docs 200` (starts moto and Prefect);
`--prefect-postgres URL` puts Prefect's server on PostgreSQL, `--timeline` prints when
each run was created, started and ended, and the runs' warnings, `--keep` keeps the logs.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench import corpus, e2e_latency, harness
from devtools.emulator import free_port, moto_server
from docproc import provision, schema, storage
from docproc.loader import make_engine

PREFIX = "burst/"
POLL_SECONDS = 0.25
# No new `documents` row for this long: what is missing is lost (moto's SNS does not
# deliver again what the webhook refused with a 503; AWS's does, and so does the relay).
STALL_SECONDS = 60.0
REFUSED = "POST /sns -> 503"
# "At once": S3 PUTs in flight together. Under moto's own delivery (inside the PUT), this is
# also how many deliveries reach the webhook at once.
UPLOAD_THREADS = 100
# The floor's threads for each document's GET and PUT: a batch run's (storage's default).
FLOOR_THREADS = 32


@dataclass(frozen=True)
class Floor:
    seconds: float
    emulator: float  # moto's CPU seconds


class _NullSubscriber(BaseHTTPRequestHandler):
    """An SNS subscriber that answers every delivery 200 at once."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def emulator_floor(
    endpoint: str, emulator_cpu: Callable[[], float], stored: str, docs: int
) -> Floor:
    """The burst's S3 and SNS work through moto with no docproc at all: `docs` uploads from
    UPLOAD_THREADS threads to a bucket that notifies an SNS topic with an HTTP subscriber
    answering at once (moto signs and posts each notification inside the PUT), while
    FLOOR_THREADS threads GET each of the `stored` bucket's documents (the backfill's)
    and PUT it back elsewhere, as each document's GET and CSV PUT. No burst through this
    moto, on this machine, can end sooner."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _NullSubscriber)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s3 = harness.s3_client(endpoint, pool=UPLOAD_THREADS + FLOOR_THREADS)
        notified, copies = harness.unique("floor-src"), harness.unique("floor-dst")
        # Wired as `serve`'s source bucket is (e2e_latency.serving), to the null subscriber.
        clients = provision.make_clients(harness.emulator_session(), endpoint_url=endpoint)
        steps = provision.plan(
            clients,
            source_bucket=notified,
            target_bucket=copies,
            webhook_url=f"http://127.0.0.1:{server.server_address[1]}/sns",
            topic_name=harness.unique("floor-topic"),
        )
        provision.apply(clients, steps)

        def copy(index: int) -> None:
            key = corpus.source_key("in/", index)
            body = s3.get_object(Bucket=stored, Key=key)["Body"].read()
            s3.put_object(Bucket=copies, Key=key, Body=body)

        cpu, started = emulator_cpu(), time.perf_counter()
        with ThreadPoolExecutor(1) as uploads, ThreadPoolExecutor(FLOOR_THREADS) as pool:
            uploading = uploads.submit(
                corpus.upload, s3, notified, PREFIX, docs, threads=UPLOAD_THREADS, first=2 * docs
            )
            list(pool.map(copy, range(docs)))
            uploading.result()
        seconds = time.perf_counter() - started
        return Floor(seconds, emulator_cpu() - cpu)
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Burst:
    docs: int
    burst_seconds: float
    backfill_seconds: float
    lost: int
    refused: int  # deliveries the webhook answered 503: AWS's SNS retries them, moto does not
    relay: dict[str, int] | None  # what the relay did, when SNS delivered through it
    doubled: int
    runs: Counter[str]  # flow runs of the burst by flow
    largest_group: int
    # Each run's objects and its creation, start and end, in seconds from the first PUT,
    # in order of creation.
    timeline: list[tuple[int, float, float, float]]
    started: float  # the first PUT, seconds since the epoch
    uploaded: float  # when the last PUT was answered, in seconds from the first
    warnings: list[str]  # the runs' log lines of WARNING and above
    # CPU seconds moto (S3 and SNS, one process: one core at most) spent in each.
    emulator_burst: float
    emulator_backfill: float
    floor: Floor  # the burst's S3 and SNS work through the same moto, without docproc

    @property
    def last_created(self) -> float:
        """When the burst's last run was created, in seconds from the first PUT."""
        return max((created for _, created, _, _ in self.timeline), default=float("nan"))

    @property
    def burst_rate(self) -> float:
        return self.docs / self.burst_seconds

    @property
    def backfill_rate(self) -> float:
        return self.docs / self.backfill_seconds

    @property
    def ratio(self) -> float:
        return self.burst_rate / self.backfill_rate

    @property
    def floor_ratio(self) -> float:
        """The best burst/backfill ratio moto leaves room for on this machine."""
        return self.backfill_seconds / self.floor.seconds


def _recorded(engine: Engine, bucket: str) -> int:
    return sum(_statuses(engine, bucket).values())


def _statuses(engine: Engine, bucket: str) -> dict[str, int]:
    documents = schema.documents
    with engine.connect() as conn:
        rows = conn.execute(
            select(documents.c.status, func.count())
            .where(documents.c.bucket == bucket)
            .group_by(documents.c.status)
        ).all()
    return {str(status): int(count) for status, count in rows}


def _runs(api: Any, bucket: str) -> list[Any]:
    """Every flow run the burst started: their parameters name the burst's bucket."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs: list[Any] = []
    while True:
        page = api.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["process-invoice", "process-batch"])),
            limit=200,
            offset=len(runs),
        )
        runs += page
        if len(page) < 200:
            return [r for r in runs if r.parameters.get("bucket") == bucket]


def _handed(runs: list[Any]) -> Counter[str]:
    """How many runs named each key."""
    keys: Counter[str] = Counter()
    for run in runs:
        if "objects" in run.parameters:
            keys.update(str(key) for key, _ in run.parameters["objects"])
        else:
            keys[str(run.parameters["key"])] += 1
    return keys


def measure(
    endpoint: str,
    prefect_env: dict[str, str],
    database_url: str,
    docs: int,
    workdir: Path,
    relay: bool = True,
) -> Burst:
    from prefect.client.orchestration import SyncPrefectClient

    engine = make_engine(database_url)
    schema.create_all(engine)
    s3 = harness.s3_client(endpoint)
    try:
        with (
            e2e_latency.serving(
                endpoint, prefect_env, database_url, workdir, "burst", relay
            ) as served,
            SyncPrefectClient(prefect_env["PREFECT_API_URL"]) as api,
        ):
            # The baseline: a backfill of as many other documents, same Prefect server.
            other, other_target = harness.unique("backfill-src"), harness.unique("backfill-dst")
            harness.create_buckets(s3, other, other_target)
            corpus.upload(s3, other, "in/", docs)
            env = harness.aws_env(endpoint) | prefect_env
            env |= {"DOCPROC_DATABASE_URL": database_url, "DOCPROC_TARGET_BUCKET": other_target}
            emulator_cpu = harness.emulator_meter(endpoint)
            emulator_before = emulator_cpu()
            backfill = harness.run_backfill(
                f"s3://{other}/in/", env, workdir / "burst-backfill.log", 120 + docs / 5
            )
            emulator_backfill = emulator_cpu() - emulator_before
            if _recorded(engine, other) != docs:
                raise harness.BenchError(f"the backfill recorded {_recorded(engine, other)}")
            floor = emulator_floor(endpoint, emulator_cpu, other, docs)

            emulator_started = emulator_cpu()
            started, wall_started = time.perf_counter(), time.time()
            burst = harness.s3_client(endpoint, pool=UPLOAD_THREADS)
            corpus.upload(burst, served.source, PREFIX, docs, threads=UPLOAD_THREADS, first=docs)
            uploaded = time.perf_counter() - started
            deadline = started + 120 + docs
            recorded, progressed, emulator_burst = 0, time.perf_counter(), math.nan
            while recorded < docs and time.perf_counter() < deadline:
                if served.proc.poll() is not None:
                    raise harness.BenchError(f"docproc serve exited {served.proc.returncode}")
                if time.perf_counter() - progressed > STALL_SECONDS:
                    break
                time.sleep(POLL_SECONDS)
                now = _recorded(engine, served.source)
                if now > recorded:
                    recorded, progressed = now, time.perf_counter()
                    emulator_burst = emulator_cpu() - emulator_started
            seconds = progressed - started
            time.sleep(3)  # a late second run of some object would show up now
            statuses = _statuses(engine, served.source)
            runs = _runs(api, served.source)
            warnings = _warnings(api, runs)
    finally:
        engine.dispose()
    handed = _handed(runs)
    csvs = sum(len(page) for page in storage.iter_pages(s3, served.target, ""))
    valid = sum(corpus.is_valid(i) for i in range(docs, 2 * docs))
    # With nothing lost, every valid document must be loaded (not a duplicate) with its CSV.
    if recorded >= docs and (csvs < valid or statuses.get("loaded", 0) != valid):
        raise harness.BenchError(
            f"the burst left documents {statuses} and {csvs} CSVs; {valid} loaded expected"
        )
    return Burst(
        docs=docs,
        burst_seconds=seconds,
        backfill_seconds=backfill.seconds,
        lost=max(0, docs - recorded),
        refused=served.log.read_text(errors="replace").count(REFUSED),
        relay=dict(served.relay.counts) if served.relay else None,
        doubled=sum(n - 1 for n in handed.values() if n > 1) + max(0, recorded - docs),
        runs=Counter(_flow(r) for r in runs),
        largest_group=max((len(r.parameters.get("objects", [1])) for r in runs), default=0),
        timeline=sorted((_timeline(r, wall_started) for r in runs), key=lambda t: t[1]),
        started=wall_started,
        uploaded=uploaded,
        warnings=warnings,
        emulator_burst=emulator_burst,
        emulator_backfill=emulator_backfill,
        floor=floor,
    )


def _warnings(api: Any, runs: list[Any]) -> list[str]:
    """The runs' log lines of WARNING and above: retries and the faults behind them."""
    from prefect.client.schemas.filters import (
        LogFilter,
        LogFilterFlowRunId,
        LogFilterLevel,
    )

    names = {r.id: r.name for r in runs}
    found: list[str] = []
    ids = list(names)
    for start in range(0, len(ids), 50):
        logs = api.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=ids[start : start + 50]),
                level=LogFilterLevel(ge_=30),
            ),
            limit=200,
        )
        found += [f"{names[log.flow_run_id]}: {log.message}" for log in logs]
    return found


def _timeline(run: Any, started: float) -> tuple[int, float, float, float]:
    def since(moment: Any) -> float:
        return float("nan") if moment is None else moment.timestamp() - started

    size = len(run.parameters.get("objects", [1]))
    return size, since(run.created), since(run.start_time), since(run.end_time)


def _flow(run: Any) -> str:
    return "process-batch" if "objects" in run.parameters else "process-invoice"


def delivery(found: Burst) -> str:
    """How SNS delivered, and what came of the deliveries the webhook refused."""
    refused = f"deliveries refused with 503: {found.refused}"
    if found.relay is None:
        return f"moto's own SNS delivery (no retries); {refused}"
    counts = ", ".join(f"{what} {n}" for what, n in sorted(found.relay.items()))
    return f"SNS delivery as AWS's (bench/sns_relay.py: {counts}); {refused}"


def describe(found: Burst) -> str:
    runs = ", ".join(f"{n} {name}" for name, n in sorted(found.runs.items()))
    return (
        f"burst of {found.docs}: {found.burst_seconds:.1f} s, {found.burst_rate:.1f} docs/s "
        f"({runs}; largest group {found.largest_group}); backfill of {found.docs}: "
        f"{found.backfill_seconds:.1f} s, {found.backfill_rate:.1f} docs/s; ratio "
        f"{found.ratio:.2f}; lost {found.lost}, doubled {found.doubled}; last PUT answered "
        f"{found.uploaded:.1f} s and last run created {found.last_created:.1f} s after the "
        f"first PUT; {delivery(found)}; "
        f"{emulator(found)}"
    )


def emulator(found: Burst) -> str:
    """What moto's own work leaves room for."""
    return (
        f"moto's floor (the burst's uploads, notifications, GETs and PUTs with no docproc): "
        f"{found.floor.seconds:.1f} s, so no burst here could beat {found.floor_ratio:.2f}x "
        f"the backfill, and this one reached {found.ratio / found.floor_ratio:.0%} of that; "
        f"moto (S3 and SNS in one process, one core at most) spent "
        f"{found.emulator_burst:.1f} CPU-s in the burst, {found.floor.emulator:.1f} in the "
        f"floor, {found.emulator_backfill:.1f} in the backfill"
    )


def main() -> None:
    cli = argparse.ArgumentParser(description="A burst of uploads vs a backfill, same serve.")
    cli.add_argument("--docs", type=int, default=200)
    cli.add_argument("--database-url", default=harness.DEFAULT_MYSQL, help="MySQL server URL")
    harness.add_prefect_postgres(cli)
    cli.add_argument("--timeline", action="store_true", help="print each run's timeline")
    cli.add_argument("--keep", action="store_true", help="keep the logs (printed at the end)")
    cli.add_argument(
        "--moto-delivery",
        action="store_true",
        help="SNS delivers as moto does (inside each PUT, never again), not as AWS does",
    )
    args = cli.parse_args()
    with (
        moto_server() as endpoint,
        harness.scratch_database(args.database_url) as database_url,
        ExitStack() as stack,
    ):
        prefix = "docproc-burst-"
        workdir = Path(
            tempfile.mkdtemp(prefix=prefix)
            if args.keep
            else stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        )
        prefect_env = stack.enter_context(harness.prefect_server(workdir, args.prefect_postgres))
        found = measure(
            endpoint, prefect_env, database_url, args.docs, workdir, not args.moto_delivery
        )
        if args.timeline:
            print(f"first PUT at {found.started:.0f}; per run: objects, created, started, "
                  "ended (s after it)")  # fmt: skip
            for size, created, began, ended in found.timeline:
                print(f"{size:7d} {created:8.1f} {began:8.1f} {ended:6.1f}")
            print(*found.warnings[:40], sep="\n")
        print(describe(found))
        if args.keep:
            print(f"logs: {workdir}")


if __name__ == "__main__":
    main()
