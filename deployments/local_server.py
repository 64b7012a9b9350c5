"""A Prefect server started for the user when no PREFECT_API_URL is set (`serve`, `demo`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docproc.emulator import free_port, stop, wait_for_http


@contextmanager
def local_prefect_server(
    port: int | None = None, home: Path | None = None, log: Path | None = None
) -> Iterator[str]:
    """Run `prefect server start` on loopback and yield its API URL; stopped on exit.

    The UI is told its own API address: on any port but 4200 it would otherwise
    call 127.0.0.1:4200 and show "Can't connect to Server API".
    """
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = os.environ | {
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_http(f"{api_url}/health", timeout=120)
        yield api_url
    finally:
        stop(proc)
        if log and out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
