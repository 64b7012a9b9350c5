"""`docproc automations create`: docproc's alerts on the Prefect server (SPEC 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docproc.alerts import TEMPLATE
from docproc.cli.common import console, fail

app = typer.Typer(
    name="automations",
    help="Prefect automations that alert on docproc's events (conflicts, suspects, ...).",
    no_args_is_help=True,
)


@app.command()
def create(
    block: Annotated[
        str,
        typer.Option(
            "--block",
            help="The notification block to send through, as TYPE/NAME "
            "(slack-webhook/docproc-alerts, sendgrid-email/ap-team, custom-webhook/...).",
        ),
    ],
    file: Annotated[
        Path, typer.Option(help="The automations, with the block's placeholder.")
    ] = TEMPLATE,
) -> None:
    """Create docproc's automations on the server at PREFECT_API_URL, each sending through
    BLOCK; run again, it updates them (found by name) instead of adding copies.

    Exit status: 0 done, 2 a usage error (a block or file that does not exist).
    """
    from deployments import automations
    from docproc.errors import DocprocError

    try:
        done = automations.create(block, file)
    except DocprocError as exc:
        fail(str(exc))
    for name, created in done:
        console.print(f"{'created' if created else 'updated'}  {name}")
