"""`python -m docproc serve`: the webhook and a runner of the deployments, in one process.

The runner polls often (1 s by default) because the poll interval is most of the
latency between an upload and its run; a work pool is the scale-out path instead.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path

import uvicorn

from docproc.settings import get_settings
from docproc.webhook import create_app

log = logging.getLogger("docproc.serve")


class WebhookServer:
    """uvicorn in a background thread, so that the runner can own the main thread."""

    def __init__(self, app: object, host: str, port: int) -> None:
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
    poll_seconds: float = 1.0,
    prefect_port: int | None = None,
    prefect_home: Path | None = None,
) -> None:
    """Serve until Ctrl-C; everything started here is stopped on the way out."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.definitions import runner_deployments
    from deployments.handover import PrefectHandOver
    from deployments.local_server import local_prefect_server

    with ExitStack() as stack:
        api_url = PREFECT_API_URL.value()
        if not api_url:
            print("PREFECT_API_URL is not set: starting a local Prefect server ...", flush=True)
            api_url = stack.enter_context(local_prefect_server(prefect_port, prefect_home))
            print(f"Prefect UI: {api_url.removesuffix('/api')}", flush=True)
        stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
        hand_over = PrefectHandOver(api_url)
        stack.callback(hand_over.close)
        webhook = WebhookServer(create_app(get_settings(), hand_over), host, port)
        webhook.start()
        stack.callback(webhook.stop)
        print(f"webhook: http://{host}:{port}/sns (health: /healthz)", flush=True)
        prefect_serve(
            *runner_deployments(),
            pause_on_shutdown=False,
            print_starting_message=True,
            query_seconds=poll_seconds,
        )
