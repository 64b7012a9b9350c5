"""The webhook's hand-over: object-created events posted to the Prefect API, acknowledged.

`prefect.events.emit_event` is fire-and-forget, so it cannot tell a down API from
a delivered event; `POST /events` answers 204 once the server has the events,
which is what lets the webhook answer SNS with 503 instead of losing work.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import httpx

from docproc import events
from docproc.models import ObjectRef
from docproc.webhook import HandOverError


class PrefectHandOver:
    def __init__(self, api_url: str | None = None, timeout: float = 5.0) -> None:
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

        url = api_url or PREFECT_API_URL.value()
        if not url:
            raise ValueError("PREFECT_API_URL is not set: the webhook needs a running Prefect API")
        headers = {}
        if key := PREFECT_API_KEY.value():
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        elif auth := PREFECT_API_AUTH_STRING.value():
            token = base64.b64encode(auth.get_secret_value().encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        # No retries here: SNS retries a 503 for up to an hour, and it must get its
        # answer well within its 15 s timeout.
        self._client = httpx.Client(
            base_url=url.rstrip("/") + "/", headers=headers, timeout=timeout
        )

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        body = [events.object_created(ref) for ref in refs]
        try:
            response = self._client.post("events", json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise HandOverError(f"Prefect API did not take {len(body)} event(s): {exc}") from exc

    def close(self) -> None:
        self._client.close()
