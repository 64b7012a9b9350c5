"""What every command shares: its consoles, exit statuses and one-line failures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, however long
    raise typer.Exit(code)


def prefect_defaults() -> None:
    """Defaults for the Prefect server a command may start, where Prefect's do not fit.

    Its local server phones home at start; nothing here may reach the internet. Without
    PREFECT_API_URL, Prefect gives its temporary server 20 s to start: on a busy 2-core
    machine (`make test`) that was not enough, and the command died with a traceback.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@contextmanager
def in_process_run() -> Iterator[None]:
    """Around a flow the command runs in its own process: without heartbeats
    (`flows.commands`), and Prefect's temporary server that did not start in one line
    rather than a traceback."""
    from flows.commands import without_heartbeats

    try:
        with without_heartbeats():
            yield
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        fail(
            f"{exc} Set PREFECT_API_URL to a running Prefect server (or raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)."
        )


def load_settings() -> None:
    """Fail with one line, not a validation traceback, on a malformed variable."""
    from pydantic import ValidationError

    from docproc.settings import get_settings

    try:
        get_settings()
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
