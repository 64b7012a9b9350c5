"""`serve` hands the runs its webhook creates straight to its own runner.

The runner finds a run by polling the API (every 0.5 s in `serve`, with jitter): about
0.3 s of a lone upload's 1.3 s from upload to CSV went waiting for the next poll,
although the webhook that created the run lives in the same process as the runner.
`RunnerWake` gives the runner each run as it is created, through the path its poll takes
(`ScheduledRunPoller._submit_scheduled_flow_runs`): the same concurrency slot, the same
Pending proposal, the same executor, so crash detection, cancellation and what the UI
shows are the poll's. The poll goes on and still finds what a wake missed.

A run is never started twice: the poller keeps the ids of runs it is submitting, and
the wake and the poll both go through that one set on the runner's event loop; a run the
other one has already started is no longer Scheduled, and the server refuses it Pending.

Those are Prefect's private names (`_scheduled_run_poller`, `_runs_task_group`): on a
Prefect other than WRITTEN_FOR the runner's poll alone starts runs, and we say so.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
    from prefect.runner import Runner

# The Prefect whose runner internals `RunnerWake` calls.
WRITTEN_FOR = "3.9.1"

logger = logging.getLogger(__name__)


class RunnerWake:
    """Called with each run the webhook created (from any thread): the runner starts it
    now if it serves its deployment; otherwise, or if anything is amiss, its poll will."""

    def __init__(self, runner: Runner) -> None:
        import prefect

        self._runner = runner
        self.enabled = prefect.__version__ == WRITTEN_FOR
        if not self.enabled:
            logger.warning(
                "Prefect %s is not %s, whose runner deployments/wake.py hands runs to: "
                "served runs wait for the runner's poll instead",
                prefect.__version__,
                WRITTEN_FOR,
            )

    def __call__(self, flow_run: FlowRun) -> Future[None] | None:
        """Returns at once; the future (None: not handed) is done once the runner has
        taken the run or declined it, long before the run ends."""
        loop: asyncio.AbstractEventLoop | None = getattr(self._runner, "_loop", None)
        if not self.enabled or loop is None or loop.is_closed():
            return None
        if flow_run.state is None or not flow_run.state.is_scheduled():
            return None  # a delivery again of a run already under way (its idempotency key)
        try:
            return asyncio.run_coroutine_threadsafe(self._submit(flow_run), loop)
        except RuntimeError:  # the loop stopped meanwhile: the runner is going away
            return None

    async def _submit(self, flow_run: FlowRun) -> None:
        """On the runner's loop: what its poll does with a run it found."""
        runner: Any = self._runner
        poller = getattr(runner, "_scheduled_run_poller", None)
        task_group = getattr(runner, "_runs_task_group", None)
        if not runner.started or runner.stopping or poller is None or task_group is None:
            return
        if poller.stopping or flow_run.deployment_id not in set(
            runner._deployment_registry.get_deployment_ids()
        ):
            return
        try:
            await poller._submit_scheduled_flow_runs([flow_run], task_group)
        except Exception:
            logger.exception("could not hand run %s to the runner; its poll will", flow_run.id)
