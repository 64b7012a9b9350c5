"""Throughput of e-invoice read + judge on one core, against a floor measured in the same run.

For each syntax the floor is what no reader can beat on the same bytes: lxml parsing
them (XML), or pypdf opening the PDF and reading its attachment. The ratio says what
the mapping onto EN 16931 terms and the rules cost on top (goal: 0.3x the floor or
better). Ours goes through the pipeline's doors, `formats.read` and `rules.judge`.
Run as `.venv/bin/python -m bench.einvoice [--seconds S]`; `make bench` runs it as its
`einvoice` section.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lxml import etree
from pypdf import PdfReader

from docproc.formats import read
from docproc.models import Invoice
from docproc.rules import judge

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "einvoices"
MAX = 10 * 1024 * 1024
CASES = {
    "UBL": sorted((DATA / "en16931-ubl").glob("*.xml")),
    "CII": sorted((DATA / "en16931-cii").glob("*.xml")),
    "Factur-X PDF": [DATA / "factur-x" / "invoice_EN16931.pdf"],
}
_PLAIN = etree.XMLParser(resolve_entities=False, no_network=True)


def _xml_floor(data: bytes) -> object:
    return etree.fromstring(data, _PLAIN)


def _pdf_floor(data: bytes) -> object:
    return PdfReader(io.BytesIO(data)).attachments["factur-x.xml"][0]


def _ours(data: bytes) -> object:
    result = judge(read(data, max_bytes=MAX))
    assert isinstance(result, Invoice), result
    return result


def alternating(
    works: Sequence[Callable[[bytes], object]], docs: list[bytes], seconds: float
) -> list[float]:
    """Documents per CPU second of each work over the corpus.

    The works alternate, corpus by corpus, and are timed in this process's CPU time: the
    machine is shared, and load that comes and goes then weighs on all alike.
    """
    for data in docs:  # warm caches and imports
        for work in works:
            work(data)
    spent = [0.0] * len(works)
    rounds = 0
    while sum(spent) < len(works) * seconds:
        for n, work in enumerate(works):
            start = time.process_time()
            for data in docs:
                work(data)
            spent[n] += time.process_time() - start
        rounds += 1
    return [rounds * len(docs) / each for each in spent]


def main(seconds: float) -> dict[str, tuple[float, float]]:
    results = {}
    header = ("corpus", "files", "KiB/doc", "floor doc/cpu-s", "ours doc/cpu-s", "ratio")
    print("{:<14} {:>5} {:>8} {:>16} {:>15} {:>6}".format(*header))
    for name, paths in CASES.items():
        docs = [p.read_bytes() for p in paths]
        floor_work = _pdf_floor if name.endswith("PDF") else _xml_floor
        floor, ours = alternating([floor_work, _ours], docs, seconds)
        results[name] = (floor, ours)
        size = sum(map(len, docs)) / len(docs) / 1024
        print(
            f"{name:<14} {len(docs):>5} {size:>8.1f} {floor:>16.0f} {ours:>15.0f} "
            f"{ours / floor:>5.2f}x"
        )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measurement")
    main(parser.parse_args().seconds)
