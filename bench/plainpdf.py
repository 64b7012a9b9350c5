"""Plain PDFs (SPEC 2.6): pages per second through the text layer and through OCR, on one
core, and where the time goes: pdftotext, pdftoppm and Tesseract (child processes), and
template matching and extraction (invoice2data, in this process).

Run as `python -m bench.plainpdf [--docs N] [--ocr-pages N]`. The documents are made here
(`devtools.pdfmaker`): a vendor's 2-page invoice with its template among invoice2data's
~215 shipped ones, and the same invoice printed and scanned at 200 dpi for OCR. The
process and its children are pinned to one core. Not part of `bench.run`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devtools import pdfmaker
from docproc import formats, rules
from docproc.formats import pdftext
from docproc.formats import templates as tpl
from docproc.formats.plainpdf import PdfOptions, apply_templates
from docproc.models import Format, Invoice

TEMPLATES = Path(__file__).resolve().parents[1] / "tests" / "data" / "textpdf" / "templates"
PAGE_TWO = "\n".join(f"Terms and conditions, clause {n}: as agreed." for n in range(1, 50))


def scan(pdf: bytes, dpi: int = 200) -> bytes:
    """Every page of `pdf` as a grey image at `dpi`: a scan with no text layer."""
    count = pdftext.text_layer(pdf)
    assert isinstance(count, pdftext.Text)
    return pdfmaker.scanned(pdf, count.pages, dpi)


def measure(docs: list[bytes], options: PdfOptions, ocr: bool) -> dict[str, float]:
    """Seconds per stage over `docs`, the whole door (`formats.read` + rules) apart."""
    templates = options.template_set()
    timings: pdftext.Timings = {}
    pages = 0
    matching = 0.0
    for data in docs:
        layer = pdftext.text_layer(data, options.limits, timings)
        assert isinstance(layer, pdftext.Text)
        text = layer
        if ocr:
            read = pdftext.ocr(data, layer.pages, languages=options.ocr_languages, timings=timings)
            assert isinstance(read, pdftext.Text)
            text = read
        pages += text.pages
        start = time.perf_counter()
        doc = apply_templates(text.text, Format.PDF_OCR if ocr else Format.PDF_TEXT, templates)
        rules.judge(doc)
        matching += time.perf_counter() - start
        assert doc.template == "com.acme.tools", doc.problems
    start = time.perf_counter()
    for data in docs:
        verdict = rules.judge(formats.read(data, pdf=options))
        assert isinstance(verdict, Invoice), verdict
    door = time.perf_counter() - start
    return {
        "pages": pages,
        "door": door,
        "pdftotext": timings.get("pdftotext", 0.0),
        "pdftoppm": timings.get("pdftoppm", 0.0),
        "tesseract": timings.get("tesseract", 0.0),
        "templates": matching,
    }


def corpus(docs: int, ocr_docs: int) -> tuple[list[bytes], list[bytes], PdfOptions]:
    """`docs` text-layer invoices, `ocr_docs` scans of them, and the options that read both."""
    options = PdfOptions(ocr=True, templates=tpl.load(tpl.folder(TEMPLATES)))
    texts = [
        pdfmaker.text_pdf([pdfmaker.ACME_INVOICE.format(number=f"ACME-2024-{n:04d}"), PAGE_TWO])
        for n in range(docs)
    ]
    return texts, [scan(texts[n % len(texts)]) for n in range(ocr_docs)], options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100, help="text-layer documents (2 pages)")
    parser.add_argument("--ocr-docs", type=int, default=3, help="scanned documents (2 pages)")
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # the children inherit it
    start = time.perf_counter()
    texts, scans, options = corpus(args.docs, args.ocr_docs)
    load = time.perf_counter() - start
    table = Table(
        "input", "pages", "pages/s (whole door)", "pdftotext", "pdftoppm", "Tesseract",
        "templates + rules", title=f"plain PDFs on one core (cpu {core}); "
        f"{len(options.template_set())} templates, loaded in {load:.2f} s once per process",
    )  # fmt: skip
    for name, docs, ocr in (("text layer", texts, False), ("scan, OCR", scans, True)):
        m = measure(docs, options, ocr)
        staged = m["pdftotext"] + m["pdftoppm"] + m["tesseract"] + m["templates"]

        def share(key: str, m: dict[str, float] = m, staged: float = staged) -> str:
            return f"{m[key] / m['pages'] * 1000:.1f} ms/page ({m[key] / staged:.0%})"

        table.add_row(
            name,
            str(int(m["pages"])),
            f"{m['pages'] / m['door']:.1f}",
            share("pdftotext"),
            share("pdftoppm"),
            share("tesseract"),
            share("templates"),
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
