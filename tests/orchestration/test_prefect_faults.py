"""A month-end burst while the Prefect API is busy: nothing lost, nothing doubled.

The lost document of issue 13: the local server's SQLite was locked, Prefect's client
gave up after its own retries, and `load` failed on the concurrency slot with a 503.
Here a proxy in front of the session's Prefect API answers that 503 to slot, state,
rename and artifact calls for a while, and a few dozen uploads run at once in a
separate process, as a runner would run them, pointed at the proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from docproc import schema
from tests.conftest import Pipeline
from tests.faultproxy import HttpFaultProxy

REPO = Path(__file__).resolve().parents[2]
COUNT = 30

pytestmark = pytest.mark.usefixtures("prefect_api")


def document(n: int) -> bytes:
    sample = (REPO / "docproc" / "samples" / "docproc-invoice.txt").read_bytes()
    return sample.replace(b"inv-00001", f"inv-{n:05d}".encode())


@pytest.fixture
def prefect_faults(prefect_api: str) -> Iterator[HttpFaultProxy]:
    """The session's Prefect API behind a proxy that can answer 503 like a busy server."""
    target = urlsplit(prefect_api)
    with HttpFaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        yield proxy


def burst(pipeline: Pipeline, api_url: str, keys: list[str]) -> list[dict[str, str]]:
    """Run `process-invoice` for every key at once, in a fresh process that uses `api_url`."""
    env = os.environ | {"PREFECT_API_URL": api_url}
    done = subprocess.run(
        [sys.executable, "-m", "tests.orchestration.test_prefect_faults", pipeline.source, *keys],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_burst_against_a_busy_prefect_api_loads_every_document_once(
    pipeline: Pipeline, prefect_faults: HttpFaultProxy
) -> None:
    keys = [f"burst/{n:05d}.txt" for n in range(COUNT)]
    for n, key in enumerate(keys):
        pipeline.upload(key, document(n))
    # From the first such call on, the API is busy for a while: the slot, the rename
    # after parsing and the invoice artifact after loading.
    prefect_faults.busy_for(2, r"^POST .*/v2/concurrency_limits/increment")
    prefect_faults.busy_for(2, r"^PATCH .*/flow_runs/[^/]+$")
    prefect_faults.busy_for(2, r"^POST .*/artifacts/$")

    outcomes = burst(pipeline, prefect_faults.url + "/api", keys)

    answered = prefect_faults.answered_503
    assert all(answered.values()), answered  # each kind of fault did happen
    with pipeline.engine.connect() as conn:
        documents = conn.execute(
            select(schema.documents.c.object_key, func.count()).group_by(
                schema.documents.c.object_key
            )
        ).all()
        invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
    unfinished = [o for o in outcomes if o["state"] != "COMPLETED"]
    assert dict(documents) == {key: 1 for key in keys}, unfinished
    assert invoices == COUNT
    assert len(pipeline.target_keys()) == COUNT
    assert not unfinished


def _main(bucket: str, keys: list[str]) -> None:
    """The burst's process: one thread per upload, one JSON line per outcome."""
    from flows.process_invoice import process_invoice

    def one(key: str) -> dict[str, str]:
        try:
            state = process_invoice(bucket, key, return_state=True)
        except Exception as exc:  # a crashed run is an outcome here, not the end of the burst
            return {"key": key, "state": "raised", "message": repr(exc)}
        return {"key": key, "state": state.type.value, "message": state.message or ""}

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        for outcome in pool.map(one, keys):
            print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2:])
