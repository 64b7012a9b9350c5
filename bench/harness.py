"""What every benchmark section shares: scratch databases, clients, child processes, the backfill.

Everything here is loopback only and bounded in time, and whatever it starts it stops,
on failure too.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devtools.emulator import EMULATOR_ENV
from docproc import storage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306"
# For Prefect's own server in the e2e section (asyncpg comes with Prefect).
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
STOP_TIMEOUT_SECONDS = 30


class BenchError(RuntimeError):
    """A section could not produce its figure; the message says why, for the table."""


def emulator_session() -> boto3.session.Session:
    """The emulator's fake credentials, without touching this process's environment."""
    return boto3.session.Session(
        aws_access_key_id=EMULATOR_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=EMULATOR_ENV["AWS_SESSION_TOKEN"],
        region_name=EMULATOR_ENV["AWS_REGION"],
    )


def s3_client(endpoint: str, pool: int = 32) -> Any:
    """docproc's own client factory, so that the baselines use the same retries and pool."""
    return storage.s3_client(emulator_session(), endpoint_url=endpoint, max_pool_connections=pool)


def emulator_meter(endpoint: str) -> Callable[[], float]:
    """A reading of the CPU seconds (user + system) the moto server at `endpoint` has used
    so far; NaN where it cannot be read (no /proc, or not devtools.emulator's moto). moto
    serves S3 and SNS in one process, so it can use one core at most: its CPU bounds how
    fast a bench through it can go. The process is looked for once, not at each reading
    (a burst reads it several times a second)."""
    port = str(urlsplit(endpoint).port).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if b"moto.server" in args and port in args:
                return partial(_process_cpu, cmdline.parent / "stat")
    return lambda: math.nan


def _process_cpu(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command's name
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_buckets(s3: Any, *names: str) -> None:
    for name in names:
        s3.create_bucket(Bucket=name)


def unique(tag: str) -> str:
    """A fresh name for a bucket or topic: nothing is shared between measurements."""
    return f"{tag}-{uuid.uuid4().hex[:8]}"


@contextmanager
def scratch_database(server_url: str = DEFAULT_MYSQL) -> Iterator[str]:
    """A database of its own on the MySQL server, yielded as a URL and dropped afterwards."""
    server = make_url(server_url)
    name = f"docproc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        admin.dispose()


@contextmanager
def prefect_server(
    workdir: Path, postgres: str | None = None, name: str = "prefect"
) -> Iterator[dict[str, str]]:
    """A Prefect server of the bench's own, `PREFECT_API_URL` and `PREFECT_HOME` for its
    clients: on SQLite in its home, or on a scratch database of the PostgreSQL server
    `postgres` (BenchError when none is reachable). Its home and log are `name` in workdir."""
    from deployments.local_server import local_prefect_server

    with ExitStack() as stack:
        database = stack.enter_context(scratch_postgres(postgres)) if postgres else None
        home = workdir / name
        url = stack.enter_context(
            local_prefect_server(home=home, log=workdir / f"{name}.log", database_url=database)
        )
        yield {"PREFECT_API_URL": url, "PREFECT_HOME": str(home)}


def add_prefect_postgres(cli: argparse.ArgumentParser) -> None:
    """The option of the benches run alone that puts their Prefect server on PostgreSQL."""
    cli.add_argument(
        "--prefect-postgres",
        metavar="URL",
        help="run Prefect's server on a scratch database of this PostgreSQL server "
        f"(e.g. {DEFAULT_POSTGRES}) instead of SQLite",
    )


@contextmanager
def scratch_postgres(server_url: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A database of its own on the PostgreSQL server, for a Prefect server; dropped after.

    BenchError when the server cannot be reached, so that the section says why.
    """
    import asyncio

    import asyncpg

    server = make_url(server_url)
    name = f"prefect_bench_{uuid.uuid4().hex[:10]}"
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"no PostgreSQL at {server.render_as_string()}: {exc}") from exc
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This environment without any DOCPROC_, AWS_ or PREFECT_ variable, plus `overrides`:
    a setting left in the shell must not point a child at another bucket, account or API."""
    kept = {
        k: v for k, v in os.environ.items() if not k.startswith(("DOCPROC_", "AWS_", "PREFECT_"))
    }
    return kept | dict(overrides)


def aws_env(endpoint: str) -> dict[str, str]:
    return {**EMULATOR_ENV, "AWS_ENDPOINT_URL": endpoint}


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child started with start_new_session=True, and whatever it started itself."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    # Grandchildren (a runner's flow-run processes) may outlive their parent.
    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: a value that was really observed."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def backfill_missing() -> str | None:
    """Why `python -m docproc backfill` cannot run here, or None when it can."""
    done = subprocess.run(
        [sys.executable, "-m", "docproc", "backfill", "--help"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode == 0:
        return None
    message = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return f"`python -m docproc backfill --help` exited {done.returncode}: " + " ".join(
        line.strip(" │╭╮╰╯─") for line in message[-3:]
    )


@dataclass(frozen=True)
class BackfillRun:
    seconds: float
    exit_code: int
    cpu_seconds: float  # the command's own CPU (user + system), from its rusage


def run_backfill(uri: str, env: Mapping[str, str], log: Path, timeout: float) -> BackfillRun:
    """The one way the benchmark runs docproc's backfill: the whole command, as a user would.

    Exit 0 (nothing rejected) and 1 (some rejected: the corpus holds invalid documents)
    are both normal; anything else, a traceback or the timeout is a BenchError.
    """
    with log.open("wb") as out:
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [sys.executable, "-m", "docproc", "backfill", uri]
        if profile := os.environ.get("BENCH_PROFILE"):
            # py-spy's collapsed stacks of the whole command (its CPU figure then counts
            # py-spy's own too): `BENCH_PROFILE=dir python -m bench.run --only latency`.
            # `--gil` (the default flags) samples the thread that holds the GIL: where the
            # CPU goes, not where threads wait; BENCH_PROFILE_FLAGS="--idle" for waits.
            out_file = Path(profile) / f"{log.stem}.txt"
            spy = str(Path(sys.executable).parent / "py-spy")
            flags = os.environ.get("BENCH_PROFILE_FLAGS", "--gil").split()
            record = ["record", *flags, "--format", "raw", "-r", "200", "-o", str(out_file), "--"]
            command = [spy, *record, *command]
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=child_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"backfill of {uri} still running after {timeout:.0f} s") from None
        finally:
            seconds = time.perf_counter() - start
            stop(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = tail(log)
    if code not in (0, 1) or "Traceback" in log.read_text(errors="replace"):
        raise BenchError(f"backfill of {uri} exited {code}; its log ends:\n{output}")
    return BackfillRun(seconds, code, cpu)
