"""`python -m docproc`: one command per verb; Prefect is imported only inside the commands.

The composition root (docs/architecture.md): the commands live by concern in
`pipeline` (process, backfill, reconcile, validate), `run` (init-db, demo, serve,
webhook), `provisioning` (provision, deprovision), `report` (vat, spend), `review` (list,
decide), `templates` (list, test) and `automations` (create); `options` declares the
options several of them take, `common` what they all share.
"""

from __future__ import annotations

import atexit
import gc

import typer

from docproc.cli import automations, pipeline, provisioning, report, review, run, templates
from docproc.cli.typer_fix import hide_flag_types

hide_flag_types()

app = typer.Typer(
    name="docproc",
    help="Load invoice documents from S3 into MySQL and export them as CSV, with Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# In the order `docproc --help` lists them.
app.command("init-db")(run.init_db)
app.command()(pipeline.process)
app.command()(pipeline.backfill)
app.command()(pipeline.reconcile)
app.command()(pipeline.validate)
app.command()(run.demo)
app.command()(run.serve)
app.command()(run.webhook)
app.command()(provisioning.provision)
app.command()(provisioning.deprovision)
app.add_typer(report.app)
app.add_typer(review.app)
app.add_typer(templates.app)
app.add_typer(automations.app)


def main(prog_name: str = "docproc") -> None:
    """The command line, ended without the interpreter's last garbage collections.

    They walk every object of Prefect's import once more, 0.6 s of each command (a
    one-document backfill took 3.1 s, 2.5 s without); the operating system frees the
    memory all the same. Registered first, the freeze runs after every other exit
    handler (Prefect's log and event workers drain theirs before it).
    """
    atexit.register(gc.freeze)
    app(prog_name=prog_name)
