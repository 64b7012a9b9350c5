"""Latency from an upload to its CSV in the target bucket, through the whole trigger chain.

S3 PUT (moto) -> SNS -> `python -m docproc serve`'s webhook -> Prefect event -> triggered
`process-invoice` run -> CSV PUT. The clock starts before put_object and stops when
head_object of the expected CSV first succeeds (polled every 25 ms). One warm-up upload
first: the first run after start-up pays for imports and caches, which a server that has
been up for a while has already paid. Then the uploads go one after another, each a new
invoice once the previous run has finished, so that each measures the chain and not a queue
behind the previous one.

Run alone: `.venv/bin/python -m bench.e2e_latency --uploads 20` (starts moto and Prefect).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench import corpus, harness, sns_relay
from devtools.emulator import free_port, moto_server, wait_for_http
from docproc import provision, schema, storage
from docproc.export import csv_key
from docproc.loader import find_document, make_engine
from docproc.models import ObjectRef

POLL_SECONDS = 0.025
WARMUP_TIMEOUT_SECONDS = 120
UPLOAD_TIMEOUT_SECONDS = 60
SERVE_START_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Upload:
    key: str
    put_at: float  # wall clock, to compare with the times Prefect records
    seconds: float  # put_object to CSV


@dataclass(frozen=True)
class E2ELatency:
    warmup_seconds: float
    seconds: list[float]  # sorted
    stages: dict[str, float]  # median seconds per stage of the chain

    @property
    def p50(self) -> float:
        return harness.percentile(self.seconds, 0.50)

    @property
    def p95(self) -> float:
        return harness.percentile(self.seconds, 0.95)


def _wait(
    done: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, what: str
) -> None:
    """Poll until `done`; fail at once if `serve` died rather than wait out the timeout."""
    start = time.perf_counter()
    while not done():
        if proc.poll() is not None:
            raise harness.BenchError(f"docproc serve exited {proc.returncode}")
        if time.perf_counter() - start > timeout:
            raise harness.BenchError(f"no {what} within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _run_finished(api: Any, key: str) -> bool:
    """Whether the run of `key` has reached a final state (its name holds the key)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    final = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
    runs = api.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(like_=key),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=final)),
        ),
        limit=1,
    )
    return bool(runs)


def _upload_and_wait(
    s3: Any,
    engine: Engine,
    api: Any,
    proc: subprocess.Popen[bytes],
    source: tuple[str, str, bytes],
    target: tuple[str, str],
    timeout: float,
) -> Upload:
    """Time from put_object to the first successful head_object of the CSV.

    Then, off the clock, until the run has recorded the document and finished: the run
    goes on after its export to load the rows, and the next upload goes when it is done.
    """
    bucket, key, body = source
    put_at = time.time()
    start = time.perf_counter()
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    _wait(lambda: storage.exists(s3, *target), proc, timeout, f"s3://{'/'.join(target)}")
    seconds = time.perf_counter() - start
    ref = ObjectRef(bucket, key, etag)
    _wait(lambda: find_document(engine, ref) is not None, proc, timeout, f"record of {ref.uri}")
    _wait(lambda: _run_finished(api, key), proc, timeout, f"the end of the run of {ref.uri}")
    return Upload(key, put_at, seconds)


def _stages(api: Any, bucket: str, uploads: list[Upload]) -> dict[str, float]:
    """Where the time goes, from the times Prefect recorded for each upload's run: until the
    trigger created the run, until the runner's poll claimed it (Pending), until its process
    had it running, until the CSV existed."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    runs = api.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=bucket)), limit=200
    )
    pending = {
        run.id: min(
            (s.timestamp.timestamp() for s in api.read_flow_run_states(run.id)
             if s.type.value == "PENDING"),
            default=None,
        )
        for run in runs
    }  # fmt: skip
    by_key = {run.parameters.get("key"): run for run in runs}
    stages: dict[str, list[float]] = {
        "to run created": [], "to claimed": [], "to running": [], "to CSV": []
    }  # fmt: skip
    for upload in uploads:
        run = by_key.get(upload.key)
        if run is None or run.start_time is None or pending.get(run.id) is None:
            continue
        created, claimed = run.created.timestamp(), pending[run.id]
        started = run.start_time.timestamp()
        stages["to run created"].append(created - upload.put_at)
        stages["to claimed"].append(claimed - created)
        stages["to running"].append(started - claimed)
        stages["to CSV"].append(upload.put_at + upload.seconds - started)
    return {name: statistics.median(values) for name, values in stages.items() if values}


@dataclass(frozen=True)
class Served:
    """A running `docproc serve`, provisioned: uploads to `source` reach its webhook."""

    proc: subprocess.Popen[bytes]
    source: str
    target: str
    log: Path
    relay: sns_relay.RelayCounts | None  # between moto's SNS and the webhook, if asked for


@contextmanager
def serving(
    endpoint: str,
    prefect_env: dict[str, str],
    database_url: str,
    workdir: Path,
    tag: str,
    relay: bool = False,
) -> Iterator[Served]:
    """`docproc serve` started as a user would, the chain provisioned to it; stopped after.

    `prefect_env` holds PREFECT_API_URL (a started server) and PREFECT_HOME. With `relay`,
    SNS delivers through bench/sns_relay.py, asynchronously and retried, as AWS does.
    """
    source, target = harness.unique(f"{tag}-src"), harness.unique(f"{tag}-dst")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = harness.aws_env(endpoint) | prefect_env
    env |= {
        "DOCPROC_DATABASE_URL": database_url,
        "DOCPROC_SOURCE_BUCKET": source,
        "DOCPROC_TARGET_BUCKET": target,
        "DOCPROC_SNS_VERIFY": "false",  # moto's signatures cannot be verified
    }
    log = workdir / f"serve-{tag}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docproc", "serve", "--port", str(port)],
            cwd=harness.REPO,
            env=harness.child_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"{url}/healthz", timeout=SERVE_START_TIMEOUT_SECONDS)
        webhook, relayed = f"{url}/sns", None
        with ExitStack() as stack:
            if relay:
                webhook, relayed = stack.enter_context(sns_relay.relaying_apart(webhook))
            clients = provision.make_clients(harness.emulator_session(), endpoint_url=endpoint)
            steps = provision.plan(
                clients,
                source_bucket=source,
                target_bucket=target,
                webhook_url=webhook,
                topic_name=harness.unique(f"{tag}-topic"),
            )
            provision.apply(clients, steps)
            yield Served(proc, source, target, log, relayed)
    except (harness.BenchError, TimeoutError) as exc:
        raise harness.BenchError(f"{exc}; docproc serve's log ends:\n{harness.tail(log)}") from exc
    finally:
        harness.stop(proc)


def measure(
    endpoint: str, prefect_env: dict[str, str], database_url: str, uploads: int, workdir: Path
) -> E2ELatency:
    """Start `serve`, provision the chain to it, warm up, then time `uploads` uploads.

    `prefect_env` holds PREFECT_API_URL (a started server) and PREFECT_HOME.
    """
    from prefect.client.orchestration import SyncPrefectClient

    engine = make_engine(database_url)
    schema.create_all(engine)  # before the first run, which would otherwise pay for it
    try:
        with (
            serving(endpoint, prefect_env, database_url, workdir, "e2e") as served,
            SyncPrefectClient(prefect_env["PREFECT_API_URL"]) as api,
        ):
            s3 = harness.s3_client(endpoint)
            proc, source, target = served.proc, served.source, served.target
            warmup = _upload_and_wait(
                s3,
                engine,
                api,
                proc,
                (source, "warmup/docproc-invoice.txt", corpus.SAMPLE),
                (target, csv_key("", "sm-LK0080145", "inv-00001")),
                WARMUP_TIMEOUT_SECONDS,
            )
            valid = [i for i in range(uploads * 2) if corpus.is_valid(i)][:uploads]
            uploaded = [
                _upload_and_wait(
                    s3,
                    engine,
                    api,
                    proc,
                    (source, corpus.source_key("e2e/", i), corpus.document(i)),
                    (target, corpus.expected_csv_key("", i)),
                    UPLOAD_TIMEOUT_SECONDS,
                )
                for i in valid
            ]
            stages = _stages(api, source, uploaded)
    finally:
        engine.dispose()
    return E2ELatency(warmup.seconds, sorted(u.seconds for u in uploaded), stages)


def main() -> None:
    cli = argparse.ArgumentParser(description="Upload-to-CSV latency through the trigger chain.")
    cli.add_argument("--uploads", type=int, default=20)
    cli.add_argument("--database-url", default=harness.DEFAULT_MYSQL, help="MySQL server URL")
    harness.add_prefect_postgres(cli)
    args = cli.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="docproc-e2e-") as tmp,
        moto_server() as endpoint,
        harness.scratch_database(args.database_url) as database_url,
        harness.prefect_server(Path(tmp), args.prefect_postgres) as prefect_env,
    ):
        found = measure(endpoint, prefect_env, database_url, args.uploads, Path(tmp))
    print(
        f"warm-up {found.warmup_seconds:.2f} s; {len(found.seconds)} uploads: "
        f"p50 {found.p50:.2f} s, p95 {found.p95:.2f} s, max {found.seconds[-1]:.2f} s; "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in found.stages.items())
    )


if __name__ == "__main__":
    main()
