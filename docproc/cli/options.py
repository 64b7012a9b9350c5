"""Options that several commands take, declared once so that their names and help agree."""

from __future__ import annotations

from typing import Annotated

import typer

Force = Annotated[bool, typer.Option("--force", help="Process again the versions already done.")]
Replace = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="A document with other values under a loaded invoice number replaces it "
        "instead of being held as a conflict (as DOCPROC_DUPLICATE_POLICY=replace); "
        "processes done versions again, as --force does.",
    ),
]
OlderThan = Annotated[
    int,
    typer.Option(
        "--older-than",
        help="Seconds since upload after which a version with no row is pending "
        "(a younger one may still be on its way).",
        min=0,
    ),
]

Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on; SNS POSTs to /sns.")]

WebhookUrl = Annotated[
    str,
    typer.Option(
        "--webhook-url",
        help="Where SNS POSTs, e.g. https://host/sns: the URL `provision` subscribes "
        "and `deprovision` unsubscribes.",
    ),
]
TopicName = Annotated[
    str,
    typer.Option("--topic-name", help="The SNS topic of the source bucket's events."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")]
