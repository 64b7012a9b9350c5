"""Real parts for the tests that cross a process: moto server, MariaDB, a Prefect API.

Each is started once per test session; each test gets clean tables and its own buckets
(the tests of a module that share one `docproc serve` share its buckets too:
tests/orchestration/conftest.py). What test modules share is in tests/support/.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from devtools.emulator import EMULATOR_ENV, moto_server
from docproc import schema
from tests.support.faultproxy import FaultProxy, HttpFaultProxy
from tests.support.pipeline import TEST_DB_URL, Pipeline, new_pipeline, pointed_at


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in [*EMULATOR_ENV, "AWS_ENDPOINT_URL"]}
    with moto_server() as endpoint:
        os.environ.update(EMULATOR_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A database of this run's own on the DOCPROC_TEST_DATABASE_URL server, dropped after."""
    server = make_url(TEST_DB_URL)
    name = f"docproc_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except Exception as exc:
        pytest.fail(f"MySQL at {TEST_DB_URL} is needed (run `make db`): {exc}")
    url = server.set(database=name).render_as_string(hide_password=False)
    schema.create_all(create_engine(url))
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[Engine]:
    engine = create_engine(mysql_url, pool_pre_ping=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One started Prefect server for the whole session (about 10 s to start).

    A real `prefect server start` rather than `prefect_test_harness`: event
    triggers of served deployments fire there as they do for users.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.local_server import local_prefect_server

    home = tmp_path_factory.mktemp("prefect-home")
    with local_prefect_server(home=home, log=home / "server.log") as api_url:
        saved = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = api_url
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield api_url
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)  # before the server goes, not at exit
        if saved is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = saved


@pytest.fixture
def prefect_faults(prefect_api: str) -> Iterator[HttpFaultProxy]:
    """The session's Prefect API behind a proxy that can answer 503 like a busy server."""
    target = urlsplit(prefect_api)
    with HttpFaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        yield proxy


@pytest.fixture
def pipeline(
    moto_endpoint: str, mysql_url: str, mysql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    """Fresh buckets and empty tables, with the DOCPROC_* settings pointing at them."""
    with pointed_at(new_pipeline(mysql_engine), mysql_url, monkeypatch) as fresh:
        yield fresh


@pytest.fixture
def s3_faults(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """S3 behind a proxy that can drop requests; boto3 does not retry, so the tasks must."""
    from tasks import resources

    target = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("DOCPROC_S3_MAX_ATTEMPTS", "1")
        resources.reset()
        yield proxy


@pytest.fixture
def db_faults(
    pipeline: Pipeline, mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """The database behind a proxy that can drop connections, as DOCPROC_DATABASE_URL."""
    from tasks import resources

    url = make_url(mysql_url)
    with FaultProxy(url.host or "127.0.0.1", url.port or 3306) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        monkeypatch.setenv("DOCPROC_DATABASE_URL", proxied.render_as_string(hide_password=False))
        resources.reset()
        yield proxy
