"""docproc's Prefect automations (SPEC 10): `automations/docproc-alerts.yaml`, with the id
of the notification block that the person names, ready for the Prefect API.

An automation's `send-notification` action takes the block's id, which differs on every
Prefect server, while people know the block by its name (`slack-webhook/alerts`); the
command looks the id up and writes it into every action (`PLACEHOLDER`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "automations" / "docproc-alerts.yaml"
PLACEHOLDER = "__NOTIFICATION_BLOCK_ID__"


def block_name(block: str) -> tuple[str, str]:
    """(type slug, name) of `TYPE/NAME`; ValueError with the form expected."""
    slug, _, name = block.partition("/")
    if not slug or not name or "/" in name:
        raise ValueError(
            f"name the block as TYPE/NAME, for example slack-webhook/docproc-alerts: {block!r}"
        )
    return slug, name


def automations(template: str, block_id: str) -> list[dict[str, Any]]:
    """The template's automations, each action sending through the block `block_id`."""
    found = yaml.safe_load(template.replace(PLACEHOLDER, block_id))
    listed = found.get("automations") if isinstance(found, dict) else None
    if not isinstance(listed, list) or not all(isinstance(a, dict) for a in listed):
        raise ValueError("the file holds no `automations:` list")
    return listed
