"""`make bench`: every figure of the benchmark, with its baseline measured in the same run.

Run as `.venv/bin/python -m bench.run [--quick] [--only NAME ...]`. Prints one table
(figure, value, baseline, ratio, goal, met?, cores) and, for a full run, records it in
bench/RESULTS.md with the date and the machine. Each section starts what it needs (moto,
a latency proxy, `docproc serve`, scratch databases; one Prefect server for the whole
run) and stops it again, on failure too; a section that fails leaves an error row and
the others still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select

from bench import baselines, burst, corpus, e2e_latency, harness, listing_memory
from bench import einvoice as einvoice_bench
from bench import official as official_bench
from bench import parse as parse_bench
from bench import plainpdf as plainpdf_bench
from bench import webhook as webhook_bench
from bench.latency_proxy import LatencyProxy
from devtools.emulator import moto_server
from docproc import storage
from docproc.schema import documents

RESULTS = Path(__file__).with_name("RESULTS.md")
EARLIER = "\n## Earlier runs"
SECTIONS = (
    "parse",
    "einvoice",
    "official",
    "plainpdf",
    "webhook",
    "e2e",
    "burst",
    "loopback",
    "latency",
    "listing",
)
ONE_PREFIX = "one/"  # a prefix of one document: the start-up
LATENCY_ROUNDS = 3  # runs each of the I/O floor and the backfill at +15 ms, taking turns
SOURCE_PREFIX = "in/"
EXPORT_PREFIX = "csv/"
# Piped (make bench | tee), rich would wrap the table at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@dataclass
class Figure:
    """One row of the table; `note` says in a sentence what exactly was measured."""

    name: str
    value: float | None
    unit: str
    note: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    met: bool | None = None
    digits: int = 0

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def cells(self) -> list[str]:
        def amount(value: float | None) -> str:
            return "-" if value is None else f"{value:,.{self.digits}f} {self.unit}"

        baseline = amount(self.baseline) if self.baseline is not None else "-"
        if self.baseline_name and self.baseline is not None:
            baseline += f" ({self.baseline_name})"
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        met = {True: "yes", False: "NO", None: "-"}[self.met]
        return [self.name, amount(self.value), baseline, ratio, self.goal or "-", met,
                str(os.cpu_count())]  # fmt: skip


@dataclass
class Context:
    """What the sections share: the options, a scratch directory and one Prefect server."""

    args: argparse.Namespace
    workdir: Path
    stack: ExitStack
    backfill_missing: str | None  # why the backfill command cannot run, when it cannot
    _prefect: dict[str, str] = field(default_factory=dict)

    def prefect_env(self) -> dict[str, str]:
        """PREFECT_API_URL of this run's server (started on first use) and its PREFECT_HOME."""
        if not self._prefect:
            console.print("starting a Prefect server ...")
            self._prefect = self.stack.enter_context(harness.prefect_server(self.workdir))
        return self._prefect


def at_least(value: float | None, goal: float) -> bool | None:
    return None if value is None else value >= goal


def at_most(value: float | None, goal: float) -> bool | None:
    return None if value is None else value <= goal


def parse_section(ctx: Context) -> list[Figure]:
    docs, repeats = (5_000, 3) if ctx.args.quick else (20_000, 5)
    rate = parse_bench.main(docs, repeats)
    return [
        Figure(
            "parse + validate, one core",
            rate,
            "docs/s",
            f"bench/parse.py: best of {repeats} passes over {docs:,} varied invoices (a third "
            "broken), in one thread.",
            goal=">= 20,000 docs/s",
            met=at_least(rate, 20_000),
        )
    ]


def einvoice_section(ctx: Context) -> list[Figure]:
    """Read + judge of UBL, CII and Factur-X PDF, each against the bare parse of the same
    files measured in the same run (lxml for XML, pypdf's attachment read for the PDF)."""
    seconds = 1.0 if ctx.args.quick else 3.0
    results = einvoice_bench.main(seconds)
    figures = []
    for name, (floor, ours) in results.items():
        files = len(einvoice_bench.CASES[name])
        floor_name = "pypdf attachment" if name.endswith("PDF") else "lxml parse"
        figures.append(
            Figure(
                f"read + validate {name}, one core",
                ours,
                "docs/cpu-s",
                f"bench/einvoice.py: {name} ({files} sample files from tests/data/einvoices) "
                "through formats.read and rules.judge, against the floor of only parsing "
                f"the same bytes ({floor_name}), alternating, {seconds:g} CPU-s each.",
                baseline=floor,
                baseline_name=floor_name,
                goal=">= 0.3x floor",
                met=None if not floor else ours / floor >= 0.3,
            )
        )
    return figures


def official_section(ctx: Context) -> list[Figure]:
    """Read + judge with the official rules (DOCPROC_OFFICIAL_RULES=report) against the same
    with them off, per format, alternating in one process (SPEC 3.1)."""
    seconds = 1.0 if ctx.args.quick else 3.0
    figures = []
    for name, paths in einvoice_bench.CASES.items():
        off, report = official_bench.rates([p.read_bytes() for p in paths], seconds)
        figures.append(
            Figure(
                f"read + judge + official rules {name}, one core",
                report,
                "docs/cpu-s",
                f"bench/official.py: {name} ({len(paths)} sample files) through formats.read "
                "and rules.judge with the official rules (Saxon-HE, stylesheets compiled "
                f"before), against the same with them off, alternating, {seconds:g} CPU-s each.",
                baseline=off,
                baseline_name="official rules off",
                digits=1,
            )
        )
    return figures


def plainpdf_section(ctx: Context) -> list[Figure]:
    """Plain PDFs (SPEC 2.6): pages per second through the whole door, text layer and OCR."""
    texts, scans, options = plainpdf_bench.corpus(20 if ctx.args.quick else 100, 1)
    figures = []
    for name, docs, ocr in (("text layer", texts, False), ("scan, OCR", scans, True)):
        m = plainpdf_bench.measure(docs, options, ocr)
        staged = m["pdftotext"] + m["pdftoppm"] + m["tesseract"] + m["templates"]
        shares = ", ".join(
            f"{key} {m[key] / staged:.0%}"
            for key in ("pdftotext", "pdftoppm", "tesseract", "templates")
            if m[key]
        )
        figures.append(
            Figure(
                f"plain PDF, {name}",
                m["pages"] / m["door"],
                "pages/s",
                f"bench/plainpdf.py: {len(docs)} generated 2-page invoices through formats.read "
                f"and rules.judge (wall clock, not pinned); time by stage: {shares}.",
                digits=1,
            )
        )
    return figures


def webhook_section(ctx: Context) -> list[Figure]:
    seconds = 3 if ctx.args.quick else 10
    found = webhook_bench.main(["--rate", "200", "--seconds", str(seconds)])
    clean = found["errors"] == 0 and found["missing"] == 0 and found["handed_over_twice"] == 0
    return [
        Figure(
            "webhook ack p99 at 200 req/s",
            found["p99_ms"],
            "ms",
            f"bench/webhook.py: {found['requests']} signed SNS notifications, open loop at "
            f"{found['rate']:.0f} req/s, signatures verified, 20% duplicates; p50 "
            f"{found['p50_ms']:.1f} ms, p95 {found['p95_ms']:.1f} ms, max {found['max_ms']:.1f} "
            f"ms; non-200 {found['errors']}, missed {found['missing']}, handed over twice "
            f"{found['handed_over_twice']}.",
            goal="none; all handed over once",
            met=None if clean else False,
            digits=1,
        )
    ]


def e2e_section(ctx: Context) -> list[Figure]:
    """Twice: Prefect's server on SQLite (what `serve` starts by default) and on PostgreSQL
    (what the README recommends for production), when a PostgreSQL server is reachable."""
    figures = _e2e_figures(ctx, "SQLite", ctx.prefect_env())
    try:
        with harness.prefect_server(
            ctx.workdir, ctx.args.prefect_postgres, "prefect-pg-e2e"
        ) as env:
            figures += _e2e_figures(ctx, "PostgreSQL", env)
    except harness.BenchError as exc:
        note = f"not measured: {exc}"
        figures += [Figure("upload -> CSV, p50, Prefect on PostgreSQL", None, "s", note)]
    return figures


def _e2e_figures(ctx: Context, database: str, prefect_env: dict[str, str]) -> list[Figure]:
    uploads = 5 if ctx.args.quick else ctx.args.e2e_uploads
    with (
        moto_server() as endpoint,
        harness.scratch_database(ctx.args.database_url) as database_url,
    ):
        found = e2e_latency.measure(endpoint, prefect_env, database_url, uploads, ctx.workdir)
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in found.stages.items())
    note = (
        f"bench/e2e_latency.py: {len(found.seconds)} uploads, each when the previous run has "
        "finished, through moto S3 -> SNS -> `docproc serve` (the webhook hands each run it "
        "creates to the runner at once, runs forked from a warm forkserver) -> Prefect on "
        f"{database} -> CSV in the "
        f"target bucket; max {found.seconds[-1]:.2f} s, warm-up upload "
        f"{found.warmup_seconds:.2f} s (not counted). Medians per stage: {stages}."
    )
    name = f"upload -> CSV, %s, Prefect on {database}"
    return [
        Figure(name % "p50", found.p50, "s", note, goal="<= 1 s",
               met=at_most(found.p50, 1), digits=2),
        Figure(name % "p95", found.p95, "s", "As above.", goal="<= 2 s",
               met=at_most(found.p95, 2), digits=2),
    ]  # fmt: skip


def _backfill(
    ctx: Context,
    endpoint: str,
    source: str,
    target: str,
    database_url: str,
    docs: int,
    prefix: str = SOURCE_PREFIX,
) -> harness.BackfillRun:
    """The whole `python -m docproc backfill` command, as a user runs it."""
    env = harness.aws_env(endpoint) | ctx.prefect_env()
    env |= {
        "DOCPROC_DATABASE_URL": database_url,
        "DOCPROC_SOURCE_BUCKET": source,
        "DOCPROC_TARGET_BUCKET": target,
        "DOCPROC_EXPORT_PREFIX": EXPORT_PREFIX,
    }
    log = ctx.workdir / f"backfill-{target}.log"
    return harness.run_backfill(f"s3://{source}/{prefix}", env, log, 120 + docs / 10)


def _startup(ctx: Context, endpoint: str, s3: Any, source: str) -> harness.BackfillRun | None:
    """The same command over a prefix of one document: what every backfill pays whatever
    its size (Prefect's import, the flow run, each client's first use), in CPU and wall."""
    if ctx.backfill_missing:
        return None
    target = harness.unique("startup-dst")
    harness.create_buckets(s3, target)
    corpus.upload(s3, source, ONE_PREFIX, 1)
    with harness.scratch_database(ctx.args.database_url) as database_url:
        return _backfill(ctx, endpoint, source, target, database_url, 1, ONE_PREFIX)


def _check_backfill(s3: Any, target: str, database_url: str, docs: int) -> None:
    """Every document recorded with the right outcome, and every valid one's CSV written."""
    valid = sum(corpus.is_valid(i) for i in range(docs))
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            counted = select(documents.c.status, func.count()).group_by(documents.c.status)
            statuses = {status: count for status, count in conn.execute(counted).all()}
    finally:
        engine.dispose()
    csvs = sum(len(page) for page in storage.iter_pages(s3, target, EXPORT_PREFIX))
    expected = {"loaded": valid, "rejected": docs - valid}
    if statuses != expected or csvs != valid:
        raise harness.BenchError(
            f"the backfill left documents {statuses} and {csvs} CSVs; expected {expected} "
            f"and {valid} CSVs"
        )


def _docproc_run(
    ctx: Context, endpoint: str, s3: Any, source: str, docs: int
) -> harness.BackfillRun | None:
    """The backfill over `endpoint` into a bucket and database of its own, its outcome
    checked; None when it cannot run (`ctx.backfill_missing` says why)."""
    if ctx.backfill_missing:
        return None
    target = harness.unique("docproc-dst")
    harness.create_buckets(s3, target)
    with harness.scratch_database(ctx.args.database_url) as database_url:
        run = _backfill(ctx, endpoint, source, target, database_url, docs)
        _check_backfill(s3, target, database_url, docs)
    return run


def _docproc_rate(
    ctx: Context, endpoint: str, s3: Any, source: str, docs: int
) -> tuple[float | None, float | None, str]:
    """docs/s and client CPU-s per 1,000 docs of the backfill over `endpoint`, or None
    and why when it cannot run."""
    run = _docproc_run(ctx, endpoint, s3, source, docs)
    return _rate_of(run, docs, ctx)


def _rate_of(
    run: harness.BackfillRun | None, docs: int, ctx: Context
) -> tuple[float | None, float | None, str]:
    if run is None:
        return None, None, f" docproc's figure is missing: {ctx.backfill_missing}"
    outcome = f" The backfill exited {run.exit_code} (1: some rejected)."
    return docs / run.seconds, 1000 * run.cpu_seconds / docs, outcome


def loopback_section(ctx: Context) -> list[Figure]:
    docs = 1_000 if ctx.args.quick else ctx.args.loopback_docs
    with moto_server() as endpoint:
        s3 = harness.s3_client(endpoint)
        source, floor_target = harness.unique("loop-src"), harness.unique("floor-dst")
        harness.create_buckets(s3, source, floor_target)
        corpus.upload(s3, source, SOURCE_PREFIX, docs)
        with harness.scratch_database(ctx.args.database_url) as floor_db:
            floor = baselines.io_floor(s3, source, SOURCE_PREFIX, floor_target, floor_db)
        rate, _, outcome = _docproc_rate(ctx, endpoint, s3, source, docs)
    return [
        Figure(
            f"backfill, loopback, {docs:,} docs",
            rate,
            "docs/s",
            f"`python -m docproc backfill` (the whole command, Prefect server already up) "
            f"over {docs:,} invoices (10% invalid) in moto, rows into MariaDB, CSVs to the "
            f"target bucket; baseline: the I/O floor on the same objects (listing, GET + PUT "
            f"on {baselines.FLOOR_THREADS} threads, one bulk INSERT, no parsing, no Prefect)."
            + outcome,
            baseline=floor.per_second,
            baseline_name="I/O floor",
            goal=">= 0.8x the floor",
            met=None if rate is None else rate >= 0.8 * floor.per_second,
        )
    ]


def latency_section(ctx: Context) -> list[Figure]:
    docs = 300 if ctx.args.quick else ctx.args.latency_docs
    rounds = 1 if ctx.args.quick else LATENCY_ROUNDS
    delay = ctx.args.delay_ms
    with moto_server() as endpoint:
        s3 = harness.s3_client(endpoint)
        source = harness.unique("lat-src")
        plain_target, floor_target = harness.unique("plain-dst"), harness.unique("floor-dst")
        harness.create_buckets(s3, source, plain_target, floor_target)
        corpus.upload(s3, source, SOURCE_PREFIX, docs)
        port = urlsplit(endpoint).port
        assert port is not None
        with LatencyProxy("127.0.0.1", port, delay_ms=delay) as proxy:
            slow = harness.s3_client(proxy.url)
            with harness.scratch_database(ctx.args.database_url) as plain_db:
                plain = baselines.plain_script(
                    slow, source, SOURCE_PREFIX, plain_target, plain_db, EXPORT_PREFIX
                )
            # The I/O floor and the backfill take turns, and each figure is the faster of
            # its runs: on a shared machine one run of either varies by a tenth or more.
            floors, runs = [], []
            for _ in range(rounds):
                with harness.scratch_database(ctx.args.database_url) as floor_db:
                    floors.append(
                        baselines.io_floor(slow, source, SOURCE_PREFIX, floor_target, floor_db)
                    )
                runs.append(_docproc_run(ctx, proxy.url, s3, source, docs))
            one = _startup(ctx, proxy.url, s3, source)
    floor = min(floors, key=lambda r: r.seconds)
    ran = [r for r in runs if r is not None]
    rate, cpu, outcome = _rate_of(min(ran, key=lambda r: r.seconds) if ran else None, docs, ctx)
    spread = (
        " Runs in turn, docs/s: floor "
        + ", ".join(f"{f.per_second:.0f}" for f in floors)
        + "; backfill "
        + (", ".join(f"{docs / r.seconds:.0f}" for r in ran) or "-")
        + "."
    )
    startup = None if one is None else one.cpu_seconds
    # CPU-s per 1,000 documents after the first: the whole run's less the one-document run's.
    beyond = None if cpu is None or startup is None else (cpu * docs - 1000 * startup) / (docs - 1)
    # S3 (moto, one core) is the floor's bottleneck and docproc makes the same requests, so
    # a command that spends `one.seconds` before and after its requests can at best take
    # the floor's time plus that: the ratio the 0.8x goal is measured against.
    ceiling = None if one is None else floor.seconds / (floor.seconds + one.seconds)

    def cpu_figure(name: str, value: float | None, note: str) -> Figure:
        """Client CPU-s per 1,000 documents against the I/O floor's, and its goal."""
        return Figure(
            f"backfill, S3 +{delay:g} ms, {name}",
            value,
            "CPU-s/1k docs",
            note,
            baseline=floor.cpu_per_1000,
            baseline_name="I/O floor",
            goal="<= 1.3x the floor",
            met=None if value is None else value <= 1.3 * floor.cpu_per_1000,
            digits=1,
        )

    what = (
        f"`python -m docproc backfill` over {docs:,} invoices with every S3 request held "
        f"{delay:g} ms by bench/latency_proxy.py (as real S3 answers in 10-30 ms); MariaDB "
        "direct."
    )
    return [
        Figure(
            f"backfill, S3 +{delay:g} ms, {docs:,} docs",
            rate,
            "docs/s",
            f"{what} Baseline: a plain sequential script through the same proxy (GET, parse + "
            "validate, autocommit INSERTs, PUT of the CSV or rejection report)." + outcome,
            baseline=plain.per_second,
            baseline_name="plain script",
            # Withdrawn (issue 13): the I/O floor itself is 6-7x the plain script here.
            goal="none (10x withdrawn)",
        ),
        Figure(
            f"backfill, S3 +{delay:g} ms, vs I/O floor",
            rate,
            "docs/s",
            "The same runs against the I/O floor through the same proxy "
            f"({baselines.FLOOR_THREADS} threads of GET + PUT, one bulk INSERT): how much of "
            f"the reachable rate docproc gets; the faster of {rounds} runs each, taking turns."
            + spread,
            baseline=floor.per_second,
            baseline_name="I/O floor",
            goal=">= 0.8x the floor",
            met=None if rate is None else rate >= 0.8 * floor.per_second,
        ),
        Figure(
            f"backfill, S3 +{delay:g} ms, reachable vs I/O floor",
            ceiling,
            "x",
            "What the ratio above can reach at most here: the floor's seconds over the floor's "
            "plus the command's over one document "
            f"({'-' if one is None else f'{one.seconds:.1f}'} s: imports, the flow run, no "
            "S3 work to speak of), since moto serves S3 on one core and docproc makes the "
            "floor's requests (one listing, a GET and a PUT per document).",
            goal="none (bounds the row above)",
            digits=2,
        ),
        cpu_figure(
            "client CPU",
            cpu,
            "CPU seconds (user + system) of the backfill command's process per 1,000 documents "
            "(its whole life, start-up included), against the I/O floor's process CPU over "
            "its clock, same objects, same proxy.",
        ),
        cpu_figure(
            "client CPU beyond start-up",
            beyond,
            "As above, less the CPU of the same command over a prefix of one document "
            f"({'-' if startup is None else f'{startup:.1f}'} CPU-s: Prefect's import, the "
            "flow run, first use of each client), per further document: the cost per "
            "document, as the floor's figure is (its clock starts with its imports done).",
        ),
    ]


def burst_section(ctx: Context) -> list[Figure]:
    """The event path under a burst against a backfill of as many, on one `serve`: with
    Prefect on SQLite (what `serve` starts by default) and on PostgreSQL (`serve
    --prefect-database`), when a PostgreSQL server is reachable; SNS delivering as AWS's
    does, then, for comparison with earlier runs, as moto's does."""
    figures = _burst_figures(ctx, "SQLite", ctx.prefect_env())
    try:
        with harness.prefect_server(
            ctx.workdir, ctx.args.prefect_postgres, "prefect-pg-burst"
        ) as env:
            figures += _burst_figures(ctx, "PostgreSQL", env)
    except harness.BenchError as exc:
        figures += [Figure("burst, Prefect on PostgreSQL", None, "docs/s", f"not measured: {exc}")]
    return figures + _burst_figures(ctx, "SQLite", ctx.prefect_env(), relay=False)


def _burst_figures(
    ctx: Context, database: str, prefect_env: dict[str, str], relay: bool = True
) -> list[Figure]:
    docs = 200 if ctx.args.quick else ctx.args.burst_docs
    with (
        moto_server() as endpoint,
        harness.scratch_database(ctx.args.database_url) as database_url,
    ):
        found = burst.measure(endpoint, prefect_env, database_url, docs, ctx.workdir, relay)
    runs = ", ".join(f"{n} {name}" for name, n in sorted(found.runs.items()))
    note = (
        f"bench/burst.py: {docs:,} uploads at once ({burst.UPLOAD_THREADS} S3 PUTs in flight) "
        f"to the bucket `docproc serve` is provisioned for, until every version has its "
        f"`documents` row: {found.burst_seconds:.1f} s in {runs} runs (largest group "
        f"{found.largest_group}); last PUT answered {found.uploaded:.1f} s and last run created "
        f"{found.last_created:.1f} s after the first "
        f"PUT; {burst.delivery(found)}. Baseline: `python -m docproc backfill` of {docs:,} "
        f"other documents through the same Prefect server (on {database}), "
        f"{found.backfill_seconds:.1f} s."
    )
    bound = Figure(
        f"burst on {database}{'' if relay else ', moto delivery'}: moto's floor",
        docs / found.floor.seconds, "docs/s",
        f"bench/burst.py's emulator_floor: the burst's S3 and SNS work through the same moto "
        f"with no docproc ({burst.UPLOAD_THREADS} threads of uploads to a bucket notifying "
        f"SNS, whose HTTP subscriber answers at once; {burst.FLOOR_THREADS} threads of each "
        f"document's GET and PUT), against the same backfill: the best ratio a burst can "
        f"reach here. {burst.emulator(found)}. An upload costs moto twice what a GET or a "
        "PUT does (it signs and posts the SNS notification inside the PUT); in AWS none "
        "of it is on docproc's cores.",
        baseline=found.backfill_rate, baseline_name="backfill",
        goal="none (bounds the row above)", digits=1,
    )  # fmt: skip
    if not relay:
        return [
            Figure(f"burst of {docs:,} uploads, Prefect on {database}, moto's own SNS delivery",
                   found.burst_rate, "docs/s", note + " moto delivers inside each PUT, so the "
                   "webhook's hold on a delivery holds the uploader, and it never delivers "
                   "again: a refused delivery is a lost document here, not in AWS.",
                   baseline=found.backfill_rate, baseline_name="backfill",
                   goal=">= 0.8x the backfill", met=found.ratio >= 0.8, digits=1),
            bound,
        ]  # fmt: skip
    return [
        Figure(f"burst of {docs:,} uploads, Prefect on {database}", found.burst_rate, "docs/s",
               note, baseline=found.backfill_rate, baseline_name="backfill",
               goal=">= 0.8x the backfill", met=found.ratio >= 0.8, digits=1),
        bound,
        Figure(f"burst on {database}: lost + doubled", found.lost + found.doubled, "docs",
               f"Versions without a row: {found.lost}; named by two runs or recorded twice: "
               f"{found.doubled}. Deliveries the webhook refused with 503 (a busy Prefect "
               f"API), which SNS delivered again: {found.refused}.",
               goal="0", met=found.lost + found.doubled == 0),
    ]  # fmt: skip


def listing_section(ctx: Context) -> list[Figure]:
    small, large = (1_000, 10_000) if ctx.args.quick else (10_000, 100_000)
    with moto_server() as endpoint:
        found = listing_memory.measure(endpoint, [small, large])
    mib = {size: found[size].peak_kib / 1024 for size in found}
    before = {size: found[size].before_kib / 1024 for size in found}
    return [
        Figure(
            f"listing peak RSS, {large:,} objects",
            mib[large],
            "MiB",
            f"bench/listing_memory.py: peak RSS (VmHWM) of a fresh process listing the "
            f"prefix with docproc.storage.iter_pages, the backfill's listing; baseline: the "
            f"same at {small:,} objects. Before listing (interpreter, boto3, one warm-up "
            f"call): {before[small]:.1f} and {before[large]:.1f} MiB.",
            baseline=mib[small],
            baseline_name=f"{small:,} objects",
            goal="<= 1.1x (flat)",
            met=mib[large] <= 1.1 * mib[small],
            digits=1,
        )
    ]


RUNNERS: dict[str, Callable[[Context], list[Figure]]] = {
    "parse": parse_section,
    "einvoice": einvoice_section,
    "official": official_section,
    "plainpdf": plainpdf_section,
    "webhook": webhook_section,
    "e2e": e2e_section,
    "burst": burst_section,
    "loopback": loopback_section,
    "latency": latency_section,
    "listing": listing_section,
}


def run_section(name: str, ctx: Context) -> tuple[list[Figure], bool]:
    """The section's figures, or one error row; and whether it succeeded."""
    console.rule(f"[bold]{name}")
    start = time.perf_counter()
    try:
        figures = RUNNERS[name](ctx)
    except Exception as exc:
        console.print(f"[bold red]{name} failed:[/] {exc}")
        return [
            Figure(f"{name}: FAILED", None, "", f"{type(exc).__name__}: {exc}", met=False)
        ], False
    console.print(f"{name} done in {time.perf_counter() - start:.0f} s")
    return figures, True


def render(figures: list[Figure]) -> Table:
    table = Table(title=f"docproc benchmark ({os.cpu_count()} cores)")
    for title in ("figure", "value", "baseline", "ratio", "goal", "met?", "cores"):
        table.add_column(title, justify="right" if title in {"value", "ratio"} else "left")
    for figure in figures:
        table.add_row(*figure.cells())
    return table


def machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in ("moto", "prefect", "boto3")),
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def markdown(figures: list[Figure], started: dict[str, str], args: argparse.Namespace) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    flags = " ".join(sys.argv[1:]) or "(defaults)"
    lines = [
        "# Benchmark results",
        "",
        "The latest `make bench` (`bench/run.py`); every baseline was measured in the same run.",
        "",
        f"- date: {started['date']}",
        f"- machine: `{started['machine']}`, {started['cores']} cores",
        f"- python {started['python']}; {started['versions']}",
        f"- load average (1, 5, 15 min) at the start: {started['load']}; at the end: "
        f"{machine()['load']}",
        f"- options: `{flags}` (S3 latency {args.delay_ms:g} ms)",
        "",
        row(["figure", "value", "baseline", "ratio", "goal", "met?", "cores"]),
        row(["---", "---:", "---:", "---:", "---", "---", "---:"]),
        *(row(f.cells()) for f in figures),
        "",
        "## What each figure measures",
        "",
        *(f"- **{f.name}**: {f.note}" for f in figures),
        "",
    ]
    return "\n".join(lines)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception, so that everything started is stopped on the way out."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description="Run docproc's benchmark and print one table.")
    cli.add_argument("--quick", action="store_true", help="small sizes, for a check in minutes")
    cli.add_argument("--only", action="append", choices=SECTIONS, help="run only this section")
    cli.add_argument("--delay-ms", type=float, default=15, help="latency added to each S3 request")
    cli.add_argument("--loopback-docs", type=int, default=10_000)
    cli.add_argument("--latency-docs", type=int, default=2_000)
    cli.add_argument("--e2e-uploads", type=int, default=20)
    cli.add_argument("--burst-docs", type=int, default=1_000)
    cli.add_argument("--database-url", default=harness.DEFAULT_MYSQL, help="MySQL server URL")
    cli.add_argument(
        "--prefect-postgres",
        default=harness.DEFAULT_POSTGRES,
        metavar="URL",
        help="PostgreSQL server for the e2e section's second Prefect server",
    )
    cli.add_argument(
        "--results",
        type=Path,
        help=f"where to record the table (default: {RESULTS.name}, for full runs only)",
    )
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = machine()
    sections = args.only or list(SECTIONS)
    missing = harness.backfill_missing() if {"loopback", "latency"} & set(sections) else None
    workdir = Path(tempfile.mkdtemp(prefix="docproc-bench-"))
    figures: list[Figure] = []
    all_ok = True
    try:
        with ExitStack() as stack:
            ctx = Context(args, workdir, stack, missing)
            for name in sections:
                found, ok = run_section(name, ctx)
                figures += found
                all_ok &= ok
    except BaseException:
        console.print(f"interrupted; everything started is stopped; logs kept in {workdir}")
        raise
    console.print(render(figures))
    results = args.results or (RESULTS if not (args.quick or args.only) else None)
    if results:
        # The dated runs kept below the latest stay: each run replaces only the latest.
        earlier = results.read_text().partition(EARLIER)[2] if results.exists() else ""
        results.write_text(
            markdown(figures, started, args) + (EARLIER + earlier if earlier else "")
        )
        console.print(f"recorded in {results}")
    if all_ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        console.print(f"logs kept in {workdir}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
