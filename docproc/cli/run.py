"""The commands that start something and keep it running, or set the database up:
init-db, demo, serve, webhook."""

from __future__ import annotations

from typing import Annotated

import typer

from docproc.cli.common import console, fail, load_settings, prefect_defaults
from docproc.cli.options import Host, Port


def init_db() -> None:
    """Create docproc's tables in DOCPROC_DATABASE_URL, or upgrade them in place, rows kept.

    A database already at the current schema version is left alone.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from docproc import migrations
    from docproc.loader import make_engine
    from docproc.settings import get_settings

    load_settings()
    engine = make_engine(get_settings().database_url.get_secret_value())
    where = engine.url.render_as_string(hide_password=True)
    try:
        done = migrations.upgrade(engine)
    except SQLAlchemyError as exc:
        fail(
            f"cannot create or upgrade the tables in {where}: {getattr(exc, 'orig', None) or exc}",
            1,
        )
    except ImportError as exc:
        fail(f"cannot reach {where}: {exc}", 1)
    rows = ", ".join(f"{n} {name}" for name, n in done.rows.items())
    if done.before is None:
        what = f"created at schema version {done.after}"
    elif done.changed:
        what = f"upgraded from schema version {done.before} to {done.after}, rows kept: {rows}"
    else:
        what = f"already at schema version {done.after}, nothing to do ({rows})"
    console.print(f"tables {', '.join(done.rows)} ready in {where}: {what}", soft_wrap=True)


def demo() -> None:
    """Run the chain on embedded defaults: a local S3 emulator, SQLite, Prefect's local API.

    Uploads the samples (a text invoice, a UBL credit note, a Factur-X PDF, a plain PDF),
    shows the rows and the CSV each became; then a corrected copy of the text invoice,
    held as a conflict, whose review it answers; prints the VAT report and stops
    everything it started. Set DOCPROC_DATABASE_URL to use MySQL instead.
    """
    from docproc import reports
    from docproc.cli.report import print_table
    from docproc.demo import run_demo
    from tasks import resources

    load_settings()
    status = run_demo(console)
    if status == 0:
        console.print("The input VAT of what is loaded (`python -m docproc report vat`):")
        print_table(reports.vat(resources.engine()), reports.describe("vat", None, None, None))
    raise typer.Exit(status)


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    poll_seconds: Annotated[
        float, typer.Option(help="How often the runner looks for runs to start (latency).")
    ] = 0.5,
    prefect_port: Annotated[
        int | None, typer.Option(help="Port of the local Prefect server, when one is started.")
    ] = None,
    prefect_database: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Database of the local Prefect server, e.g. "
            "postgresql+asyncpg://user:pw@host:5432/prefect (an empty database: Prefect "
            "creates its tables). Default: PREFECT_SERVER_DATABASE_CONNECTION_URL, else "
            "SQLite in PREFECT_HOME, which keeps bursts of uploads waiting.",
        ),
    ] = None,
) -> None:
    """Run the webhook and a runner of the deployments together, until Ctrl-C.

    Uses PREFECT_API_URL, or starts a local Prefect server (and prints its UI address).

    While uploads arrive together, the webhook holds each SNS delivery until its
    group of uploads is handed over, up to about a second. AWS's SNS delivers
    apart from the upload; moto's own SNS delivers inside each S3 PUT, so there
    an uploader that sends one file after another waits that long per file:
    measure throughput with concurrent uploads (bench/burst.py), not that way.
    """
    prefect_defaults()
    load_settings()
    from deployments.local_server import check_database
    from deployments.serve import serve as run_serve

    if prefect_database:
        try:
            check_database(prefect_database)
        except ValueError as exc:
            fail(f"--prefect-database {exc}")
    run_serve(host, port, poll_seconds, prefect_port, prefect_database=prefect_database)


def webhook(host: Host = "127.0.0.1", port: Port = 8080) -> None:
    """Run the SNS webhook alone; it hands objects to the Prefect API at PREFECT_API_URL."""
    prefect_defaults()
    load_settings()
    import uvicorn

    from deployments.handover import PrefectHandOver
    from deployments.serve import log_to_console, webhook_app

    try:
        hand_over = PrefectHandOver()
    except ValueError as exc:
        fail(str(exc))
    console.print(f"webhook: http://{host}:{port}/sns")
    log_to_console()
    uvicorn.run(webhook_app(hand_over), host=host, port=port, log_level="warning")
