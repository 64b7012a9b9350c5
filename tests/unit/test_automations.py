"""`automations/` holds valid Prefect automations on docproc's event names."""

import uuid
from pathlib import Path

import yaml
from prefect.events.schemas.automations import AutomationCore, EventTrigger

from docproc import events

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
