"""The deployments of `prefect.yaml`, read once, so that `serve` and `prefect deploy` agree."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


@lru_cache
def declared() -> dict[str, dict[str, Any]]:
    """Each deployment of `prefect.yaml` by name."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    return {d["name"]: d for d in config["deployments"]}


def triggers(name: str) -> list[Any]:
    """The deployment's triggers as Prefect objects."""
    from prefect.events import DeploymentEventTrigger

    return [DeploymentEventTrigger(**spec) for spec in declared()[name].get("triggers", [])]


def schedules(name: str) -> list[Any]:
    """The deployment's `interval:` (seconds) and `cron:` schedules as Prefect objects."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    return [
        CronSchedule(cron=spec["cron"], timezone=spec.get("timezone"))
        if "cron" in spec
        else IntervalSchedule(interval=timedelta(seconds=spec["interval"]))
        for spec in declared()[name].get("schedules", [])
    ]


def served_flows() -> list[tuple[Any, dict[str, Any]]]:
    """What `serve` runs: every declared deployment, with its triggers, as a flow and the
    keyword arguments of `Runner.add_flow` (which lets the runner start it directly)."""
    from flows.backfill import backfill_batch, backfill_prefix
    from flows.process_batch import process_batch
    from flows.process_invoice import process_invoice
    from flows.reconcile import reconcile
    from flows.report import report
    from flows.review import review

    flows = {
        "process-invoice": process_invoice,
        "process-batch": process_batch,
        "backfill-prefix": backfill_prefix,
        "backfill-batch": backfill_batch,
        "reconcile": reconcile,
        "report": report,
        "review": review,
    }
    return [
        (
            flow,
            {
                "name": name,
                "description": declared()[name].get("description"),
                "tags": declared()[name].get("tags"),
                "triggers": triggers(name),
                "schedules": schedules(name),
                "parameters": declared()[name].get("parameters"),
            },
        )
        for name, flow in flows.items()
    ]
