"""The webhook's hand-over: each object's run created, the events posted, acknowledged.

The webhook creates every run itself, from its deployment, with an idempotency key
that names the object versions: a lone upload on a quiet system gets its own
`process-invoice` run (the fast path); objects gathered under a burst (see
docproc/grouping.py) get their bucket's `process-batch` run. Then
`docproc.s3.objects.created` events (one per 99 objects of a bucket) name the objects
and their run, for the Event feed and users' automations; all events in one POST.

Not the deployment trigger's way (event, then the server's trigger and actions services
create the run): the server does not retry an action whose run creation fails, so under
a burst on SQLite an upload whose event had been accepted now and then never got a run
(bench/burst.py, 2026-11-30: 1 of 1,000, its `prefect.automation.triggered` recorded and
no action after it), and it created runs 6-40 s late. The trigger stays in `prefect.yaml`
for `docproc.s3.object.created` events from elsewhere (a Prefect Cloud webhook, README).

The run is the hand-over: when it cannot be created, the webhook answers 503 and SNS
delivers again (the idempotency key gives back the same run if a creation did land).
An event the API then refuses costs a warning, not a 503: answered 503, SNS would
deliver the objects again, in other company, into a second run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any
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
INVOICE_DEPLOYMENT = "process-invoice/process-invoice"
# A busy server (SQLite's writer lock under a burst) answers a run's creation 503 now and
# then, mostly for milliseconds but, under a 1,000-upload burst, once for over 3 s: tried
# again after these waits, 6-10 s in all, so that with the group's window (2.5 s) the
# answer mostly comes within SNS's 15 s. The idempotency key makes a creation that did
# land but lost its answer harmless.
CREATE_RETRY_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)

logger = logging.getLogger("docproc.webhook")


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PrefectHandOver:
    """Posts through Prefect's own client, so its settings apply as they do to every other
    call: API key or auth string, TLS (`PREFECT_API_TLS_INSECURE_SKIP_VERIFY`,
    `PREFECT_API_SSL_CERT_FILE`), `PREFECT_CLIENT_CUSTOM_HEADERS`, CSRF tokens."""

    def __init__(
        self,
        timeout: float = 5.0,
        batch_deployment: str = BATCH_DEPLOYMENT,
        invoice_deployment: str = INVOICE_DEPLOYMENT,
        on_created: Callable[[FlowRun], object] | None = None,
    ) -> None:
        from prefect.client.orchestration import get_client
        from prefect.context import SettingsContext, get_settings_context
        from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES

        if not PREFECT_API_URL.value():
            raise ValueError("PREFECT_API_URL is not set: the webhook needs a running Prefect API")
        # No retries of the client's own: SNS retries a 503 (for about 48 minutes with
        # provision's delivery policy), and it must get its answer well within its 15 s
        # timeout, which the client's back-off (2, 4, 8 ... s) is not. A busy answer raises
        # at once; a run's creation is retried here.
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
        self._invoice_deployment = invoice_deployment
        self._deployment_ids: dict[str, UUID] = {}  # read at each deployment's first run
        # `serve` starts each run at once in its own runner (deployments/wake.py).
        self._on_created = on_created

    def __call__(self, refs: Sequence[ObjectRef]) -> None:
        with self._settings():
            runs = {
                bucket: self._run(bucket, group) for bucket, group in events.by_bucket(refs).items()
            }
            body = events.handed_over(refs, runs)
            try:
                response = self._client.request("POST", "/events", json=body)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                logger.warning(
                    "Prefect API did not take the event(s) of %d object(s) handed over to "
                    "run(s) %s: %s",
                    len(refs),
                    ", ".join(map(str, runs.values())),
                    _line(exc),
                )

    def _run(self, bucket: str, group: list[ObjectRef]) -> UUID:
        """The run of `group`, created once per group whatever the deliveries."""
        if events.goes_as_group(group):
            return self._create(
                self._batch_deployment,
                {"bucket": bucket, "objects": events.object_pairs(group)},
                events.group_id(group),
                run_name(bucket, [r.key for r in group]),
                f"{len(group)} objects of {bucket}",
            )
        [ref] = group
        return self._create(
            self._invoice_deployment,
            {"bucket": ref.bucket, "key": ref.key, "etag": ref.etag or ""},
            events.event_id(ref),
            ref.uri,
            ref.uri,
        )

    def _create(
        self, deployment: str, parameters: dict[str, Any], key: UUID, name: str, what: str
    ) -> UUID:
        """A run of `deployment`, tried again while the API is busy (`CREATE_RETRY_SECONDS`)."""
        from prefect.exceptions import ObjectNotFound, PrefectException

        try:
            if deployment not in self._deployment_ids:
                self._deployment_ids[deployment] = self._client.read_deployment_by_name(
                    deployment
                ).id
            deployment_id = self._deployment_ids[deployment]

            def create() -> FlowRun:
                return self._client.create_flow_run_from_deployment(
                    deployment_id, parameters=parameters, idempotency_key=str(key), name=name
                )

            def busy(exc: BaseException, wait: float) -> None:
                logger.warning(
                    "Prefect API busy creating the run of %s (%s); again in %.2f s",
                    what,
                    _line(exc),
                    wait,
                )

            run = retried(create, CREATE_RETRY_SECONDS, on_wait=busy)
        except ObjectNotFound as exc:
            raise HandOverError(f"deployment {deployment} not found: no run for {what}") from exc
        except (httpx.HTTPError, PrefectException, ValueError) as exc:
            self._deployment_ids.pop(deployment, None)  # read again: it may have been replaced
            raise HandOverError(
                f"Prefect API did not create the run of {what}: {_line(exc)}"
            ) from exc
        if self._on_created is not None:
            try:
                self._on_created(run)
            except Exception:  # the run exists: a runner's poll will start it
                logger.exception("could not wake the runner for the run of %s", what)
        return run.id

    def close(self) -> None:
        self._client.__exit__(None, None, None)
