"""`make demo`: the whole chain on one machine, with nothing to configure.

Four documents go in: the original system's text sample, a UBL credit note, a Factur-X
PDF and a plain PDF read by its invoice2data template (when poppler's pdftotext is
installed, as `make install` does); each comes out as rows and a CSV. Then a corrected
copy of the text sample is held as a conflict, asked in a `review` run and answered.

S3 upload -> bucket notification -> SNS -> webhook -> `process-invoice` run created
from its deployment -> rows in the database and a CSV in the target bucket,
on moto (S3 and SNS), a local Prefect server and SQLite (or DOCPROC_DATABASE_URL).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devtools.emulator import EMULATOR_ENV, free_port, moto_server, stop, wait_for_http

WORK_DIR = Path(".docproc")
# In the package (docproc/samples/, with the e-invoices' licences), so that an installed
# wheel uploads them all: the original system's sample, a UBL credit note whose number
# holds `/` and spaces, a Factur-X PDF, and a plain PDF whose template is beside it.
SAMPLES = ("docproc-invoice.txt", "ubl-tc434-creditnote1.xml", "invoice_EN16931.pdf")
PLAIN_PDF = "acme-tools-invoice.pdf"
# The text sample with item 5 at 950 instead of 850 (totals and words to match): the
# same invoice, different values, so it is held as a conflict and asks a question.
CORRECTED = "docproc-invoice-corrected.txt"
ANSWER_AFTER_SECONDS = 5.0


def samples_folder() -> Path:
    """docproc/samples/, which also holds the plain PDF's template (DOCPROC_TEMPLATES)."""
    return Path(str(files("docproc").joinpath("samples")))


def demo_documents() -> list[tuple[str, bytes]]:
    """(name, bytes) of what the demo uploads, in that order: the plain PDF only where
    pdftotext can read it."""
    names = [*SAMPLES, PLAIN_PDF] if shutil.which("pdftotext") else list(SAMPLES)
    return [(name, (samples_folder() / name).read_bytes()) for name in names]


def run_demo(console: Console, timeout: float = 180.0) -> int:
    """0 when the samples arrived as rows and CSVs, 1 otherwise."""
    from deployments.local_server import local_prefect_server
    from docproc import export, formats, loader, migrations, provision, rules
    from docproc.models import Invoice, ObjectRef
    from docproc.pdfoptions import pdf_options
    from docproc.settings import get_settings
    from tasks import resources

    WORK_DIR.mkdir(exist_ok=True)
    # The plain PDF's template, unless the user keeps templates of their own.
    os.environ.setdefault("DOCPROC_TEMPLATES", str(samples_folder()))
    get_settings.cache_clear()
    pdf = pdf_options(get_settings())
    # The database outlives a demo: one made by an earlier release is upgraded first.
    upgraded = migrations.upgrade(
        loader.make_engine(resources.settings().database_url.get_secret_value())
    )
    if upgraded.before is not None and upgraded.changed:
        console.print(f"upgraded the database to schema version {upgraded.after}")
    with ExitStack() as stack:
        console.print("[bold]1/6[/] starting the S3/SNS emulator (moto server) ...")
        endpoint = stack.enter_context(moto_server())
        os.environ.update(EMULATOR_ENV | {"AWS_ENDPOINT_URL": endpoint})
        resources.reset()

        console.print("[bold]2/6[/] starting a local Prefect server (about 15 s) ...")
        api_url = stack.enter_context(
            local_prefect_server(home=WORK_DIR / "prefect", log=WORK_DIR / "prefect-server.log")
        )
        os.environ["PREFECT_API_URL"] = api_url
        ui_url = api_url.removesuffix("/api")

        console.print("[bold]3/6[/] starting the webhook and the deployment runner ...")
        port = free_port()
        stack.enter_context(serve_process(port, WORK_DIR / "serve.log"))

        console.print(
            "[bold]4/6[/] provisioning buckets, topic, policy, notification, subscription"
        )
        config = resources.settings()
        clients = provision.make_clients()
        steps = provision.plan(
            clients,
            source_bucket=config.source_bucket,
            target_bucket=config.target_bucket,
            webhook_url=f"http://127.0.0.1:{port}/sns",
        )
        provision.apply(clients, steps)
        for step in steps:
            console.print(f"    {step.description}")

        s3 = resources.s3()
        # A new prefix each time: the database outlives the emulator, and an object
        # version it has seen would rightly be skipped.
        prefix = time.strftime("incoming/%Y%m%dT%H%M%S/")
        started = time.monotonic()
        uploads = []
        for name, body in demo_documents():
            key = prefix + name
            etag = s3.put_object(Bucket=config.source_bucket, Key=key, Body=body)["ETag"]
            uploads.append((ObjectRef(config.source_bucket, key, etag.strip('"')), body))
        console.print(
            f"[bold]5/6[/] uploaded {', '.join(ref.uri for ref, _ in uploads)}", soft_wrap=True
        )
        engine = resources.engine()
        with console.status("waiting for SNS -> webhook -> Prefect -> CSV and rows ..."):
            # The `documents` row is written last, in the transaction of the invoice's rows.
            while any(loader.find_document(engine, ref) is None for ref, _ in uploads):
                if time.monotonic() - started > timeout:
                    console.print(f"[red]no CSV after {timeout:.0f} s; see {WORK_DIR}/serve.log")
                    return 1
                time.sleep(0.2)
        console.print(
            f"[green]loaded[/] in {time.monotonic() - started:.1f} s after the upload "
            f"({len(uploads)} invoices), with nothing done by hand"
        )
        for ref, body in uploads:
            # What the pipeline made of it, found by the ids the document itself gives.
            invoice = rules.judge(formats.read(body, pdf=pdf))
            if not isinstance(invoice, Invoice):
                console.print(f"[red]{ref.uri} was rejected: {', '.join(invoice.reasons)}")
                return 1
            done = loader.find_document(engine, ref)
            console.rule(f"{ref.uri} ({invoice.format}): {done.status if done else '?'}")
            show_rows(console, invoice.issuer_key, invoice.invoice_id)
            csv_key = export.csv_key(config.export_prefix, invoice.issuer_key, invoice.invoice_id)
            if done is not None and done.status != "loaded":
                # SPEC 10: an earlier run loaded this invoice, and a duplicate (or a
                # conflict) changes no row or CSV; that CSV went with the earlier
                # emulator, so show the loaded invoice's CSV as exported from its rows.
                console.print(
                    f"{done.status} {' '.join(done.reasons)}: an earlier run loaded this "
                    "invoice; its CSV, as exported from its rows:"
                )
                loaded = loader.read_invoice(engine, invoice.issuer_key, invoice.invoice_id)
                csv = export.invoice_csv(loaded).decode() if loaded else ""
            else:
                got = s3.get_object(Bucket=config.target_bucket, Key=csv_key)
                csv = got["Body"].read().decode()
            console.rule(f"s3://{config.target_bucket}/{csv_key}")
            console.print(csv.rstrip(), soft_wrap=True, markup=False)
        console.rule()
        if not answer_a_conflict(console, config.source_bucket, prefix, ui_url, timeout):
            return 1
        console.print(
            f"The Prefect UI was at {ui_url} (flow runs, task runs, the invoice artifact); "
            "`make serve` keeps one running."
        )
        return 0
    return 1  # only if a context manager swallowed an exception


def answer_a_conflict(
    console: Console, bucket: str, prefix: str, ui_url: str, timeout: float
) -> bool:
    """A corrected copy of the text sample arrives: held as a conflict, its `review` run
    waits in the UI; answered here as `review decide` would. `keep`, not `replace`: the
    demo's database outlives it, and `keep` leaves the next demo the same question."""
    from docproc import loader, reviews
    from docproc.models import ObjectRef
    from tasks import resources
    from tasks import review as reviewing

    body = (samples_folder() / CORRECTED).read_bytes()
    key = prefix + CORRECTED
    etag = resources.s3().put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    ref = ObjectRef(bucket, key, etag)
    console.print(
        f"[bold]6/6[/] uploaded a corrected copy of the text invoice (item 5: 850 -> 950): "
        f"{ref.uri}",
        soft_wrap=True,
    )
    started = time.monotonic()
    with console.status("waiting for its review run to ask ..."):
        while (run_id := reviewing.suspended_run_id(ref)) is None:
            if time.monotonic() - started > timeout:
                console.print(f"[red]no review run after {timeout:.0f} s; see {WORK_DIR}/serve.log")
                return False
            time.sleep(0.5)
    held = loader.find_document(resources.engine(), ref)
    console.print(
        f"held {' '.join(held.reasons) if held else '?'}: a person answers at "
        f"{ui_url}/runs/flow-run/{run_id} (Resume: keep or replace, and a note), or with "
        f"`python -m docproc review decide {ref.uri} keep|replace`",
        soft_wrap=True,
        markup=False,
    )
    with console.status(f"answering `keep` in {ANSWER_AFTER_SECONDS:.0f} s, as a clerk would ..."):
        time.sleep(ANSWER_AFTER_SECONDS)
    done = reviewing.apply(ref, reviews.Answer.KEEP, "the loaded invoice stands", "make demo")
    reviewing.end_review_run(ref, str(done.review.decision))
    console.print(
        f"decided {done.review.decision} by {done.review.decided_by or 'someone'}"
        + (" (answered before, in the UI)" if done.already else "")
        + ": the loaded invoice stays; the copy is recorded rejected, flagged reviewed",
        soft_wrap=True,
        markup=False,
    )
    return True


@contextmanager
def serve_process(port: int, log: Path) -> Iterator[None]:
    """`python -m docproc serve` as a child process, for as long as the demo runs."""
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            [sys.executable, "-m", "docproc", "serve", "--port", str(port)],
            env=os.environ | {"DOCPROC_SNS_VERIFY": "false"},  # moto cannot sign
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
            yield
        finally:
            stop(proc)


def show_rows(console: Console, issuer_key: str, invoice_id: str) -> None:
    """The invoice as the database holds it, read back with pandas."""
    import pandas as pd

    from docproc.reports import plain
    from docproc.schema import QUANTITY, invoice_items, invoice_taxes, invoices
    from tasks import resources

    engine = resources.engine()
    tables = {}
    for table in (invoices, invoice_items, invoice_taxes):
        query = table.select().where(
            table.c.issuer_key == issuer_key, table.c.invoice_id == invoice_id
        )
        frame = pd.read_sql_query(query, engine, coerce_float=False)
        # Quantities, prices and rates as a person writes them: 1, not 1.0000000000.
        quantities = [
            c.name for c in table.columns if getattr(c.type, "scale", 0) == QUANTITY.scale
        ]
        for column in quantities:
            frame[column] = frame[column].map(lambda v: v if v is None else plain(v))
        tables[table.name] = frame.fillna("")
    head = Table("column", "value", title="invoices (1 row)")
    for column, value in tables["invoices"].iloc[0].items():
        head.add_row(str(column), str(value))
    console.print(head)
    for name in ("invoice_items", "invoice_taxes"):
        rows = tables[name].drop(columns=["issuer_key", "invoice_id"], errors="ignore")
        lines = Table(*map(str, rows.columns), title=f"{name} ({len(rows)} rows)")
        for row in rows.itertuples(index=False):
            lines.add_row(*map(str, row))
        console.print(lines)
