"""A Prefect server started for the user when no PREFECT_API_URL is set (`serve`, `demo`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from devtools.emulator import free_port, stop, wait_for_http

# Prefect's setting, by the name it reads first; the older name is an alias of it.
DATABASE_VARIABLE = "PREFECT_SERVER_DATABASE_CONNECTION_URL"
LEGACY_DATABASE_VARIABLE = "PREFECT_API_DATABASE_CONNECTION_URL"


def configured_database(environ: Mapping[str, str]) -> str | None:
    """The database the environment gives Prefect's server; None: SQLite in PREFECT_HOME."""
    return environ.get(DATABASE_VARIABLE) or environ.get(LEGACY_DATABASE_VARIABLE) or None


def check_database(database_url: str) -> str:
    """The URL, if Prefect's server can use it; else ValueError with what it takes."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        url = None
    if url is None or url.drivername not in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        raise ValueError(
            f"{describe_database(database_url) if url else database_url!r}: Prefect's server "
            "takes postgresql+asyncpg://user:pw@host:5432/db (or sqlite+aiosqlite:///path)"
        )
    return database_url


def describe_database(database_url: str | None) -> str:
    """`SQLite`, or the URL without its password, for the line `serve` prints."""
    if not database_url:
        return "SQLite"
    return make_url(database_url).render_as_string(hide_password=True)


def server_env(
    environ: Mapping[str, str],
    api_url: str,
    port: int,
    home: Path | None = None,
    database_url: str | None = None,
) -> dict[str, str]:
    """The environment of `prefect server start`: see local_prefect_server."""
    env = dict(environ) | {
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if database_url:
        env.pop(LEGACY_DATABASE_VARIABLE, None)
        env[DATABASE_VARIABLE] = database_url
    return env


@contextmanager
def local_prefect_server(
    port: int | None = None,
    home: Path | None = None,
    log: Path | None = None,
    database_url: str | None = None,
) -> Iterator[str]:
    """Run `prefect server start` on loopback and yield its API URL; stopped on exit.

    The UI is told its own API address: on any port but 4200 it would otherwise
    call 127.0.0.1:4200 and show "Can't connect to Server API". The server's database is
    `database_url`, else Prefect's own setting (configured_database), else SQLite in its
    home.
    """
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = server_env(os.environ, api_url, port, home, database_url)
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
