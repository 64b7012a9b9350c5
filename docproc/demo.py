"""`make demo`: the whole chain on one machine, with nothing to configure."""

from __future__ import annotations

import os
from importlib.resources import files

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from docproc.emulator import EMULATOR_ENV, moto_server

SAMPLE_KEY = "incoming/docproc-invoice.txt"


def run_demo(console: Console) -> int:
    """Start the emulator, upload the sample, process it, show rows and CSV; 0 when it loaded."""
    console.print("starting the S3 emulator (moto server) ...")
    with moto_server() as endpoint:
        os.environ.update(EMULATOR_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        from docproc.cli import print_outcome, run_process
        from tasks import resources

        resources.reset()
        config = resources.settings()
        s3 = resources.s3()
        for bucket in (config.source_bucket, config.target_bucket):
            s3.create_bucket(Bucket=bucket)
        sample = files("docproc").joinpath("samples/docproc-invoice.txt").read_bytes()
        s3.put_object(Bucket=config.source_bucket, Key=SAMPLE_KEY, Body=sample)
        console.print(
            f"S3 emulator at {endpoint}: uploaded s3://{config.source_bucket}/{SAMPLE_KEY}"
        )
        console.print("running the process-invoice flow (Prefect starts a local API first) ...")

        outcome = run_process(config.source_bucket, SAMPLE_KEY, force=True)
        print_outcome(outcome)
        if outcome.status != "loaded" or outcome.output is None:
            return 1
        show_rows(console)
        bucket, _, key = outcome.output.removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        console.print(Panel(body.rstrip(), title=outcome.output, expand=False))
        return 0


def show_rows(console: Console) -> None:
    """The invoice as the database holds it, read back with pandas."""
    import pandas as pd

    from docproc.schema import invoice_items, invoices
    from tasks import resources

    engine = resources.engine()
    for table in (invoices, invoice_items):
        frame = pd.read_sql_query(table.select(), engine)
        view = Table(title=f"{table.name} ({len(frame)} rows)", show_lines=False)
        shown = [c for c in frame.columns if c not in {"content_sha256", "source_etag"}]
        for column in shown:
            view.add_column(column, overflow="fold")
        for row in frame[shown].astype(str).itertuples(index=False):
            view.add_row(*row)
        console.print(view)
