"""A PDF without an embedded invoice, read by templates (SPEC 2.6).

The text layer as `pdftotext -layout` gives it (`pdf-text`), or, for a scan, Tesseract's
reading of each page when OCR is on (`pdf-ocr`); then the first template that matches
(`docproc.formats.templates`) extracts the fields. What is found is an
`ExtractedDocument`: the rules (`docproc.rules.template`) judge it. Never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docproc.formats import pdftext
from docproc.formats.document import TEXT_HEAD_LINES, ExtractedDocument
from docproc.formats.templates import TemplateSet, load
from docproc.models import Format, Problem, Reason
from docproc.rules.problems import never_raises

OCR_ENGINES = ("tesseract",)
_MAX_HEAD_LINE = 200  # characters of a text line shown in a report


@dataclass(frozen=True)
class PdfOptions:
    """How plain PDFs are read: SPEC section 8's `DOCPROC_OCR`, `DOCPROC_OCR_LANGUAGES`,
    `DOCPROC_EXTRACT_TIMEOUT_SECONDS` and `DOCPROC_TEMPLATES` (loaded: None is the
    shipped ones alone). The defaults are SPEC's."""

    ocr: bool = False
    ocr_languages: str = pdftext.DEFAULT_OCR_LANGUAGES
    timeout: float = pdftext.DEFAULT_TIMEOUT_SECONDS
    memory: int = pdftext.DEFAULT_MEMORY_BYTES
    templates: TemplateSet | None = field(default=None, compare=False)

    @property
    def limits(self) -> pdftext.Limits:
        return pdftext.Limits(timeout=self.timeout, memory=self.memory)

    def template_set(self) -> TemplateSet:
        return self.templates if self.templates is not None else load()


def _unreadable(
    exc: Exception, data: bytes, options: PdfOptions = PdfOptions()
) -> ExtractedDocument:
    return ExtractedDocument(
        Format.UNKNOWN,
        (Problem(Reason.MALFORMED_DOCUMENT, f"the PDF could not be read ({exc!r})"[:300]),),
    )


@never_raises(_unreadable)
def read_plain_pdf(data: bytes, options: PdfOptions = PdfOptions()) -> ExtractedDocument:
    """The fields a template reads from the PDF's text, or why there are none."""
    text = read_text(data, options)
    if isinstance(text, Problem):
        return ExtractedDocument(Format.UNKNOWN, (text,))
    fmt, content = text
    return apply_templates(content.text, fmt, options.template_set(), pages=content.pages)


def read_text(data: bytes, options: PdfOptions) -> tuple[Format, pdftext.Text] | Problem:
    """The text layer; failing that, OCR when it is on; else `no_text` saying why."""
    layer = pdftext.text_layer(data, options.limits)
    if isinstance(layer, Problem):
        return layer
    if pdftext.has_text(layer.text):
        return Format.PDF_TEXT, layer
    if not options.ocr:
        return Problem(
            Reason.NO_TEXT,
            f"the PDF has no text layer ({layer.pages} page(s) of images: a scan?) and OCR "
            "is off (DOCPROC_OCR=tesseract reads scans)",
        )
    scanned = pdftext.ocr(data, layer.pages, languages=options.ocr_languages, limits=options.limits)
    if isinstance(scanned, Problem):
        return scanned
    if not pdftext.has_text(scanned.text):
        return Problem(
            Reason.NO_TEXT,
            f"the PDF has no text layer, and OCR found no text on its {scanned.pages} page(s)",
        )
    return Format.PDF_OCR, scanned


def apply_templates(
    text: str, fmt: Format, templates: TemplateSet, *, pages: int = 1
) -> ExtractedDocument:
    """The first matching template's fields; `no_template` with the text's first lines
    when none matches."""
    head = text_head(text)
    template = templates.match(text)
    if template is None:
        shown = "\n".join(head)
        return ExtractedDocument(
            fmt,
            (
                Problem(
                    Reason.NO_TEMPLATE,
                    f"no template matches the text ({len(templates)} templates tried); "
                    f"its first {len(head)} lines, to write one from:\n{shown}",
                ),
            ),
            text_head=head,
            pages=pages,
        )
    try:
        fields = template.extract(text)
    except Exception as exc:  # a template's regexes and options are the user's: any error
        problem = Problem(
            Reason.MISSING_FIELD,
            f"template {template.name} matches but cannot be applied ({exc!r})"[:400],
        )
        return ExtractedDocument(
            fmt, (problem,), template=template.name, text_head=head, pages=pages
        )
    return ExtractedDocument(
        fmt, template=template.name, fields=fields, text_head=head, pages=pages
    )


def text_head(text: str) -> tuple[str, ...]:
    """The first lines of the text that hold anything, each cut to a readable length."""
    lines: list[str] = []
    for line in text.replace("\f", "\n").splitlines():
        if len(lines) >= TEXT_HEAD_LINES:
            break
        if line.strip():
            lines.append(line.rstrip()[:_MAX_HEAD_LINE])
    return tuple(lines)
