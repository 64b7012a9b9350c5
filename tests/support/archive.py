"""An archive of a few hundred documents, as the backfill tests upload it, and its rows."""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import select

from docproc import schema
from tests.support.pipeline import Pipeline

SAMPLE = files("docproc").joinpath("samples/docproc-invoice.txt").read_text()
COUNT = 240


def key(i: int) -> str:
    """Keys with spaces, plus signs and non-ASCII, as users name files."""
    return f"archive/2024/{i:04d} rechnung+kopie ü {i % 3}.txt"


def invalid(i: int) -> bool:
    return i % 7 == 3


def document(i: int) -> bytes:
    text = SAMPLE.replace("inv-00001", f"inv-{i:05d}").replace("sm-LK0080145", f"cust-{i % 13}")
    if invalid(i):
        text = text.replace("Mar 31 2018", "Feb 30 2018")
    return text.encode()


def rows(pipeline: Pipeline) -> dict[str, list[tuple[object, ...]]]:
    """Every row, without the columns that say when or by which run."""
    skip = {"loaded_at", "processed_at", "id", "flow_run_id"}
    with pipeline.engine.connect() as conn:
        return {
            t.name: sorted(
                conn.execute(select(*[c for c in t.columns if c.name not in skip])).all(), key=repr
            )
            for t in schema.metadata.sorted_tables
        }
