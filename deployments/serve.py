"""`python -m docproc serve`: the webhook and a runner of the deployments, in one process.

The webhook hands each run it creates straight to the runner (wake.py); the runner also
polls often (every 0.5 s by default) for the runs others create, and it starts runs from
a warm forkserver (forkserver.py) rather than as new processes; a work pool is the
scale-out path instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from contextlib import ExitStack
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from docproc.grouping import GroupingHandOver
from docproc.settings import get_settings
from docproc.webhook import HandOver, create_app, sns_clients
from tasks import resources

# Prefect's client retries a busy API (429, 503, lost connection) about 62 s with its
# default 5 retries; a burst can keep a local server busy longer, and the engine's
# state writes of a run are protected by nothing else. The runner and every run it
# starts get this (the deployments of prefect.yaml get it as a job variable).
CLIENT_MAX_RETRIES = "8"

# Measured with bench/burst.py: on SQLite, a run's creation and its state writes meet
# "database is locked" under a burst and are tried again, so runs start seconds late.
SQLITE_HINT = (
    "  under bursts of uploads SQLite starts runs late; for PostgreSQL: "
    "--prefect-database postgresql+asyncpg://user:pw@host:5432/prefect"
)


def webhook_app(hand_over: HandOver) -> FastAPI:
    """The webhook as `serve` and `webhook` run it. Uploads that arrive together go as one
    group, to one `process-batch` run (docproc/grouping.py)."""
    return create_app(
        get_settings(),
        GroupingHandOver(hand_over),
        sns_client=sns_clients(*resources.aws_session()),
    )


def log_to_console() -> None:
    """Show docproc's own INFO lines (one per webhook request) beside Prefect's."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s")
    )
    logger = logging.getLogger("docproc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class WebhookServer:
    """uvicorn in a background thread, so that the runner can own the main thread."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="webhook", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    poll_seconds: float = 0.5,
    prefect_port: int | None = None,
    prefect_home: Path | None = None,
    prefect_database: str | None = None,
) -> None:
    """Serve until Ctrl-C; everything started here is stopped on the way out."""
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from deployments import forkserver
    from deployments.definitions import served_flows
    from deployments.handover import PrefectHandOver
    from deployments.local_server import (
        configured_database,
        describe_database,
        local_prefect_server,
    )
    from deployments.wake import RunnerWake

    log_to_console()
    with ExitStack() as stack:
        api_url = PREFECT_API_URL.value()
        if not api_url:
            database = prefect_database or configured_database(os.environ)
            print(
                "PREFECT_API_URL is not set: starting a local Prefect server on "
                f"{describe_database(database)} ...",
                flush=True,
            )
            if not database:
                print(SQLITE_HINT, flush=True)
            api_url = stack.enter_context(
                local_prefect_server(prefect_port, prefect_home, database_url=database)
            )
        retries = os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", CLIENT_MAX_RETRIES)
        stack.enter_context(
            temporary_settings({PREFECT_API_URL: api_url, PREFECT_CLIENT_MAX_RETRIES: int(retries)})
        )
        print(f"Prefect UI: {api_url.removesuffix('/api')}", flush=True)

        forkserver.install()  # before the first run: it imports what every run needs
        # Deployments first: the webhook creates runs from them, and an event that
        # arrives before its trigger exists starts nothing.
        runner = Runner(pause_on_shutdown=False, query_seconds=poll_seconds)
        for flow, options in served_flows():
            runner.add_flow(flow, **options)
            print(f"serving deployment {flow.name}/{options['name']}", flush=True)

        # At api_url (the settings above); each run it creates starts at once, not at the
        # runner's next poll.
        hand_over = PrefectHandOver(on_created=RunnerWake(runner))
        stack.callback(hand_over.close)
        webhook = WebhookServer(webhook_app(hand_over), host, port)
        webhook.start()
        stack.callback(webhook.stop)
        print(f"webhook: http://{host}:{port}/sns (health: /healthz); Ctrl-C stops", flush=True)
        try:
            asyncio.run(runner.start())
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
