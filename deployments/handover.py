"""The webhook's hand-over: object-created events posted to the Prefect API, acknowledged.

A lone object goes as `docproc.s3.object.created`, objects handed over together (see
docproc/grouping.py) as one `docproc.s3.objects.created` per bucket; all in one POST.

`prefect.events.emit_event` is fire-and-forget, so it cannot tell a down API from
a delivered event; `POST /events` answers 204 once the server has the events,
which is what lets the webhook answer SNS with 503 instead of losing work.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from docproc import events
from docproc.models import ObjectRef
from docproc.webhook import HandOverError


class PrefectHandOver:
    """Posts through Prefect's own client, so its settings apply as they do to every other
    call: API key or auth string, TLS (`PREFECT_API_TLS_INSECURE_SKIP_VERIFY`,
    `PREFECT_API_SSL_CERT_FILE`), `PREFECT_CLIENT_CUSTOM_HEADERS`, CSRF tokens."""

    def __init__(self, timeout: float = 5.0) -> None:
        from prefect.client.orchestration import get_client
        from prefect.context import SettingsContext, get_settings_context
        from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES

        if not PREFECT_API_URL.value():
            raise ValueError("PREFECT_API_URL is not set: the webhook needs a running Prefect API")
        self._client = get_client(
            httpx_settings={"timeout": httpx.Timeout(timeout)}, sync_client=True
        )
        self._client.__enter__()
        # No retries: SNS retries a 503 for up to an hour, and it must get its answer well
        # within its 15 s timeout, which the client's own back-off (2, 4, 8 ... s) is not.
        current = get_settings_context()
        no_retries = current.settings.copy_with_update(updates={PREFECT_CLIENT_MAX_RETRIES: 0})
        # A context per call: calls come from several threads at once.
        self._settings = lambda: SettingsContext(profile=current.profile, settings=no_retries)

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        body = events.handed_over(refs)
        try:
            with self._settings():
                response = self._client.request("POST", "/events", json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise HandOverError(f"Prefect API did not take {len(body)} event(s): {exc}") from exc

    def close(self) -> None:
        self._client.__exit__(None, None, None)
