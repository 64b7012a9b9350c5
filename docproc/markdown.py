"""Markdown tables for the Prefect artifacts, their cells escaped in one place.

A cell is one line of a table row: a `|` in it would end the cell and a line break the
row, and an S3 key or an error message can hold either. GitHub-flavoured Markdown (what
the Prefect UI renders) reads `\\|` as a pipe, inside a code span too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_BACKTICKS = re.compile(r"`+")


def cell(value: object) -> str:
    """`value` as the text of one cell: pipes escaped, line breaks made spaces."""
    return str(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def code(value: object) -> str:
    """`value` as a code span (a key, a reason code), with a fence longer than any run of
    backticks inside it; `table` escapes it as a cell like any other."""
    text = str(value)
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A table, every cell escaped once; `align` has an `l` or `r` per column (default `l`),
    `r` for numbers."""
    if len(align) > len(headers) or set(align) - {"l", "r"}:
        raise ValueError(f"align must be l or r per column, at most {len(headers)}: {align!r}")
    rules = ("---:" if a == "r" else "---" for a in align.ljust(len(headers), "l"))
    lines = [_row(headers), "|" + "|".join(rules) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row of {len(row)} cells under {len(headers)} headers: {row!r}")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Iterable[object]) -> str:
    return "|" + "".join(f" {text} |" if text else " |" for text in map(cell, cells))
