"""Name the notification block of docproc's automations, for `prefect automation create`.

    python automations/render.py BLOCK_TYPE/BLOCK_NAME [TEMPLATE] > alerts.yaml
    prefect automation create --from-file alerts.yaml

A `send-notification` action takes the block's id, which differs on every Prefect
server; people know the block by its name (`slack-webhook/docproc-alerts`), so this
looks the id up on the server at PREFECT_API_URL and writes it into the template.
"""

from __future__ import annotations

import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("docproc-alerts.yaml")
PLACEHOLDER = "__NOTIFICATION_BLOCK_ID__"


def render(block: str, template: str) -> str:
    """The template with the id of the block `type-slug/name` in every action."""
    from prefect.client.orchestration import get_client

    slug, _, name = block.partition("/")
    if not slug or not name:
        raise SystemExit(
            f"name the block as TYPE/NAME, e.g. slack-webhook/docproc-alerts: {block!r}"
        )
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, slug)
    return template.replace(PLACEHOLDER, str(document.id))


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        raise SystemExit(0 if argv else 2)
    template = Path(argv[1]) if len(argv) > 1 else TEMPLATE
    sys.stdout.write(render(argv[0], template.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main(sys.argv[1:])
