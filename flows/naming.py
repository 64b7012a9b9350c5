"""Names the Prefect UI shows: artifact keys."""

from __future__ import annotations

import re

_NOT_KEY = re.compile(r"[^a-z0-9]+")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return _NOT_KEY.sub("-", "-".join(parts).lower()).strip("-")[:100]
