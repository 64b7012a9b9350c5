"""`automations/` holds valid Prefect automations on docproc's event names."""

import uuid
from pathlib import Path

import pytest
import yaml
from prefect.events.schemas.automations import AutomationCore, EventTrigger

from docproc import alerts, events

TEMPLATE = Path(__file__).resolve().parents[2] / "automations" / "docproc-alerts.yaml"


def test_every_automation_validates_and_expects_a_docproc_event() -> None:
    block_id = str(uuid.uuid4())
    text = TEMPLATE.read_text().replace("__NOTIFICATION_BLOCK_ID__", block_id)
    automations = [AutomationCore.model_validate(a) for a in yaml.safe_load(text)["automations"]]
    expected = {a.trigger.expect.pop() for a in automations if isinstance(a.trigger, EventTrigger)}
    invoice_events = {
        events.INVOICE_CONFLICT,
        events.INVOICE_SUSPECT,
        events.INVOICE_NONCONFORMANT,
    }
    assert invoice_events <= expected
    assert expected <= {*invoice_events, "docproc.ingestion.lagging"}
    for automation in automations:
        [action] = automation.actions
        assert str(getattr(action, "block_document_id", "")) == block_id


def test_the_block_is_named_type_slash_name() -> None:
    assert alerts.block_name("slack-webhook/docproc-alerts") == ("slack-webhook", "docproc-alerts")
    for bad in ("slack-webhook", "/x", "x/", "a/b/c"):
        with pytest.raises(ValueError, match="TYPE/NAME"):
            alerts.block_name(bad)


def test_every_action_gets_the_block_id_and_nothing_else_changes() -> None:
    text = alerts.TEMPLATE.read_text()
    found = alerts.automations(text, "0f0e0d0c-0000-4000-8000-000000000000")
    assert len(found) == text.count("- name: docproc ")
    assert alerts.PLACEHOLDER not in repr(found)
    for automation in found:
        [action] = automation["actions"]
        assert action["block_document_id"] == "0f0e0d0c-0000-4000-8000-000000000000"
    with pytest.raises(ValueError, match="automations"):
        alerts.automations("not: [a list]", "id")
