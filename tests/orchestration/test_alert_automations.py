"""An automation from `automations/`, created as the README says, fires on a conflict event."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest

from docproc import events
from docproc.duplicates import Decision, Difference, Kind, LoadedDocument
from docproc.models import Invoice, ObjectRef


def test_a_conflict_event_sends_the_notification(prefect_api: str, tmp_path: Path) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    received: queue.Queue[dict[str, Any]] = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=server.serve_forever, daemon=True).start()
    block_name = f"docproc-alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(
        name="docproc test hook",
        url=f"http://127.0.0.1:{server.server_port}/hook",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    ).save(block_name)
    env = dict(os.environ, PREFECT_API_URL=prefect_api)
    command = [sys.executable, "-m", "docproc", "automations", "create"]
    created = subprocess.run(
        [*command, "--block", f"custom-webhook/{block_name}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created  docproc conflicting invoice" in created.stdout
    # Run again, it updates them: no copies.
    again = subprocess.run(
        [*command, "--block", f"custom-webhook/{block_name}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "updated  docproc conflicting invoice" in again.stdout
    with get_client(sync_client=True) as client:
        names = [a.name for a in client.read_automations() if a.name.startswith("docproc ")]
    assert len(names) == len(set(names)) == created.stdout.count("created  ")
    missing = subprocess.run(
        [*command, "--block", "custom-webhook/no-such-block"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "no notification block" in missing.stderr
    try:
        invoice = Invoice(
            "sm-1", "inv-7", date(2018, 3, 31), "S", "B", "INR",
            Decimal("100.00"), Decimal("0.00"), Decimal("100.00"), None,
        )  # fmt: skip
        decision = Decision(
            invoice,
            ObjectRef("src", "in/b.txt", "e2"),
            Kind.CONFLICT,
            LoadedDocument(ObjectRef("src", "in/a.txt", "e1"), "inv-7", 1),
            (Difference("item 2 amount", "100.00", "150.00"),),
        )
        [event] = events.invoice_events(decision)
        event |= {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat()}
        # The triggers service reads new automations every few seconds: send until heard.
        for _ in range(30):
            event["id"] = str(uuid.uuid4())
            httpx.post(f"{prefect_api}/events", json=[event], timeout=10).raise_for_status()
            try:
                note = received.get(timeout=4)
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("no notification within two minutes")
        assert note["subject"] == "docproc: invoice sm-1/inv-7 held as a conflict"
        assert "- item 2 amount: 100.00 -> 150.00" in note["body"]
        assert "process --replace s3://src/in/b.txt" in note["body"]
    finally:
        server.shutdown()
        with get_client(sync_client=True) as client:
            for automation in client.read_automations():
                if automation.name.startswith("docproc "):
                    client.delete_automation(automation.id)
