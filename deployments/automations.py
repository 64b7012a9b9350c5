"""docproc's automations on the Prefect server (SPEC 10): created, or updated by name."""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound
from pydantic import ValidationError

from docproc import alerts
from docproc.errors import DocprocError


def create(block: str, file: Path = alerts.TEMPLATE) -> list[tuple[str, bool]]:
    """Each automation of `file` on the server at PREFECT_API_URL, sending through the
    notification block `block` (TYPE/NAME): (name, True when created, False when updated).

    DocprocError for a block or a file that is not what it must be.
    """
    try:
        slug, name = alerts.block_name(block)
        text = file.read_text(encoding="utf-8")
    except ValueError as exc:
        raise DocprocError(str(exc)) from None
    except OSError as exc:
        raise DocprocError(f"cannot read {file}: {exc.strerror or exc}") from None
    done = []
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name, slug)
        except ObjectNotFound:
            raise DocprocError(
                f"no notification block {block} on the Prefect server: create it first "
                "(the UI's Blocks page, or Block.save in code)"
            ) from None
        try:
            wanted = [
                AutomationCore.model_validate(spec)
                for spec in alerts.automations(text, str(document.id))
            ]
        except (ValueError, ValidationError) as exc:
            raise DocprocError(f"{file}: {str(exc).splitlines()[0]}") from None
        for automation in wanted:
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
            else:
                client.create_automation(automation)
            done.append((automation.name, not existing))
    return done
