"""What the official rules (SPEC 3.1) cost: compile time per stylesheet, run time per document,
and documents per CPU second with the check against reading and judging alone, per format.

"Alone" goes through the pipeline's doors (`formats.read`, `rules.judge`); "with the check"
adds the hardened parse of the XML that `official.check` is given (the pipeline may hand it
the reader's tree instead) and the check. Both are timed in this process's CPU time,
alternating corpus by corpus: the machine is shared. Run as
`.venv/bin/python -m bench.official [--seconds S]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lxml import etree

from bench.einvoice import CASES, alternating
from docproc.formats import read
from docproc.formats.document import EInvoiceDocument
from docproc.formats.pdf import embedded_invoice
from docproc.formats.xml import parse
from docproc.models import Invoice
from docproc.rules import judge, official

MAX = 10 * 1024 * 1024


def _xml(data: bytes) -> bytes:
    if not data.startswith(b"%PDF"):
        return data
    xml = embedded_invoice(data, max_bytes=MAX, is_invoice=lambda x: True)
    assert isinstance(xml, bytes), xml
    return xml


def _alone(data: bytes) -> object:
    result = judge(read(data, max_bytes=MAX))
    assert isinstance(result, Invoice), result
    return result


def _with_check(data: bytes) -> object:
    doc = read(data, max_bytes=MAX)
    result = judge(doc)
    assert isinstance(result, Invoice) and isinstance(doc, EInvoiceDocument), result
    root = parse(_xml(data))
    assert isinstance(root, etree._Element)
    findings = official.check(root, doc.syntax, doc.profile)
    assert official.RULES_ERROR not in {f.rule for f in findings}, findings
    return findings


def rates(docs: list[bytes], seconds: float) -> tuple[float, float]:
    """Documents per CPU second, read+judge alone and with the check."""
    alone, checked = alternating([_alone, _with_check], docs, seconds)
    return alone, checked


def _run_times(paths: list[Path], rounds: int) -> list[float]:
    """Wall seconds of `official.check` alone, per document, after a warm-up round."""
    trees = []
    for path in paths:
        data = path.read_bytes()
        doc = read(data, max_bytes=MAX)
        assert isinstance(doc, EInvoiceDocument)
        root = parse(_xml(data))
        assert isinstance(root, etree._Element)
        trees.append((root, doc))
    times = []
    for n in range(rounds + 1):
        for root, doc in trees:
            start = time.perf_counter()
            official.check(root, doc.syntax, doc.profile)
            if n:
                times.append(time.perf_counter() - start)
    return times


def main(seconds: float, rounds: int) -> None:
    print("compile, once per process (wall s; machine shared):")
    for name, spent in official.precompile().items():
        print(f"  {name:<45} {spent:6.2f}")
    print("\nofficial.check per document (wall ms, after a warm-up round):")
    print("{:<14} {:>5} {:>8} {:>8} {:>8}".format("corpus", "files", "median", "p90", "max"))
    for name, paths in CASES.items():
        times = sorted(_run_times(paths, rounds))
        p90 = times[int(0.9 * (len(times) - 1))]
        print(
            f"{name:<14} {len(paths):>5} {1000 * statistics.median(times):8.1f} "
            f"{1000 * p90:8.1f} {1000 * times[-1]:8.1f}"
        )
    print("\ndocuments per CPU second:")
    header = ("corpus", "read+judge", "+ official", "ratio")
    print("{:<14} {:>12} {:>12} {:>7}".format(*header))
    for name, paths in CASES.items():
        alone, checked = rates([p.read_bytes() for p in paths], seconds)
        print(f"{name:<14} {alone:12.0f} {checked:12.1f} {checked / alone:7.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per side")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of the check")
    args = parser.parse_args()
    main(args.seconds, args.rounds)
