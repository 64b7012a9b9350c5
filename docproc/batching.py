"""How many documents a backfill batch holds, when the user has not said.

Each batch costs six task runs whatever its size, and each task run costs the Prefect
server about 60 ms of CPU on SQLite (its state events, measured with bench/run.py's
latency section): batches of 200 over 2,000 documents cost it 3.5 CPU-s, batches of 500
1.5 CPU-s, on a machine where the server competes with S3 and the client for two cores.
Small batches still matter for a small prefix, where the overlap of fetching one batch
while the previous one loads is most of the speed, and for memory, which grows with a
batch's bytes. Hence: about `TARGET_BATCHES` batches, within [SMALLEST, LARGEST].
"""

from __future__ import annotations

SMALLEST = 200
LARGEST = 500
TARGET_BATCHES = 4  # enough batches for the overlap, and as few as that allows


def batch_size_for(total: int, configured: int | None = None) -> int:
    """The configured size when there is one, else one sized to the prefix's `total`."""
    if configured:
        return configured
    return max(SMALLEST, min(LARGEST, -(-total // TARGET_BATCHES)))
