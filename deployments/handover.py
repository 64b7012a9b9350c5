"""The webhook's hand-over: a group's batch run created, the events posted, acknowledged.

A lone upload on a quiet system goes as `docproc.s3.object.created`, whose trigger in
`prefect.yaml` starts its `process-invoice` run. Objects gathered under a burst (see
docproc/grouping.py; even one, if nothing else came) get their bucket's `process-batch`
run created here, directly from the deployment: under a burst, the server's trigger and
actions pipeline turned events it had accepted into runs 6-40 s later on SQLite, which
dominated the burst's time. Their `docproc.s3.objects.created` event still goes, naming
the run, for the Event feed and users' automations; all events in one POST.

The run comes first: if the POST then fails, the webhook answers 503, SNS delivers
again, and the idempotency key (the group's id) gives back the same run.
`prefect.events.emit_event` is fire-and-forget, so it cannot tell a down API from
a delivered event; `POST /events` answers 204 once the server has the events,
which is what lets the webhook answer SNS with 503 instead of losing work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

import httpx

from docproc import events
from docproc.errors import raise_if_busy, retried
from docproc.models import ObjectRef
from docproc.webhook import HandOverError
from flows.process_batch import run_name

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

BATCH_DEPLOYMENT = "process-batch/process-batch"
# A busy server (SQLite's writer lock under a burst) answers a run's creation 503 now and
# then, mostly for milliseconds but, under a 1,000-upload burst, once for over 3 s: tried
# again after these waits, 6-10 s in all, so that with the group's window (2.5 s) the
# answer still comes within SNS's 15 s. (An accepted event costs the server no write; a
# run does.) The idempotency key makes a creation that did land but lost its answer harmless.
CREATE_RETRY_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)

logger = logging.getLogger("docproc.webhook")


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PrefectHandOver:
    """Posts through Prefect's own client, so its settings apply as they do to every other
    call: API key or auth string, TLS (`PREFECT_API_TLS_INSECURE_SKIP_VERIFY`,
    `PREFECT_API_SSL_CERT_FILE`), `PREFECT_CLIENT_CUSTOM_HEADERS`, CSRF tokens."""

    def __init__(self, timeout: float = 5.0, batch_deployment: str = BATCH_DEPLOYMENT) -> None:
        from prefect.client.orchestration import get_client
        from prefect.context import SettingsContext, get_settings_context
        from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES

        if not PREFECT_API_URL.value():
            raise ValueError("PREFECT_API_URL is not set: the webhook needs a running Prefect API")
        # No retries of the client's own: SNS retries a 503 for up to an hour, and it must
        # get its answer well within its 15 s timeout, which the client's back-off (2, 4,
        # 8 ... s) is not. A busy answer raises at once; a run's creation is retried here.
        self._client = get_client(
            httpx_settings={
                "timeout": httpx.Timeout(timeout),
                "event_hooks": {"response": [raise_if_busy]},
            },
            sync_client=True,
        )
        self._client.__enter__()
        current = get_settings_context()
        no_retries = current.settings.copy_with_update(updates={PREFECT_CLIENT_MAX_RETRIES: 0})
        # A context per call: calls come from several threads at once.
        self._settings = partial(SettingsContext, profile=current.profile, settings=no_retries)
        self._batch_deployment = batch_deployment
        self._batch_deployment_id: UUID | None = None  # read at the first group

    def __call__(self, refs: Sequence[ObjectRef], gathered: bool = False) -> None:
        """Hand `refs` over; `gathered` (under a burst) sends even a lone object to a batch run."""
        with self._settings():
            runs = {
                bucket: self._batch_run(bucket, group)
                for bucket, group in events.by_bucket(refs).items()
                if events.goes_as_group(group, gathered)
            }
            body = events.handed_over(refs, runs, gathered)
            try:
                response = self._client.request("POST", "/events", json=body)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise HandOverError(
                    f"Prefect API did not take {len(body)} event(s): {_line(exc)}"
                ) from exc

    def _batch_run(self, bucket: str, group: list[ObjectRef]) -> UUID:
        """The group's `process-batch` run, created once per group whatever the deliveries."""
        from prefect.exceptions import ObjectNotFound, PrefectException

        try:
            if self._batch_deployment_id is None:
                deployment = self._client.read_deployment_by_name(self._batch_deployment)
                self._batch_deployment_id = deployment.id
            deployment_id = self._batch_deployment_id
            objects = events.object_pairs(group)

            def create() -> FlowRun:
                return self._client.create_flow_run_from_deployment(
                    deployment_id,
                    parameters={"bucket": bucket, "objects": objects},
                    idempotency_key=str(events.group_id(group)),
                    name=run_name(bucket, [r.key for r in group]),
                )

            def busy(exc: BaseException, wait: float) -> None:
                logger.warning(
                    "Prefect API busy creating the run of %d objects of %s (%s); again in %.2f s",
                    len(group),
                    bucket,
                    _line(exc),
                    wait,
                )

            run = retried(create, CREATE_RETRY_SECONDS, on_wait=busy)
        except ObjectNotFound as exc:
            raise HandOverError(
                f"deployment {self._batch_deployment} not found: no run for {len(group)} "
                f"objects of {bucket}"
            ) from exc
        except (httpx.HTTPError, PrefectException, ValueError) as exc:
            self._batch_deployment_id = None  # read again next time: it may have been replaced
            raise HandOverError(
                f"Prefect API did not create the run of {len(group)} objects of {bucket}: "
                f"{_line(exc)}"
            ) from exc
        return run.id

    def close(self) -> None:
        self._client.__exit__(None, None, None)
