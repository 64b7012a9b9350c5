"""How the pipeline and the commands read plain PDFs, from settings (SPEC 2.6 and 8).

The readers take no settings (an import contract): this builds their `PdfOptions` from
`DOCPROC_OCR`, `DOCPROC_OCR_LANGUAGES`, `DOCPROC_EXTRACT_TIMEOUT_SECONDS` and
`DOCPROC_TEMPLATES`. A folder of templates is read once per process and again when a
file in it changes; templates kept on S3 come in as (name, text) pairs read by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from docproc.errors import DocprocError
from docproc.formats import templates as tpl
from docproc.formats.plainpdf import PdfOptions
from docproc.settings import Settings


def pdf_options(settings: Settings, user: Iterable[tuple[str, str]] | None = None) -> PdfOptions:
    """The reader's options; `user` is the user's templates when the caller read them
    (from S3), else they are read from the `DOCPROC_TEMPLATES` folder, if any."""
    if user is None:
        user = user_templates(settings.templates)
    return PdfOptions(
        ocr=settings.ocr == "tesseract",
        ocr_languages=settings.ocr_languages,
        timeout=settings.extract_timeout_seconds,
        templates=tpl.load(user),
    )


def user_templates(where: str | None) -> tuple[tuple[str, str], ...]:
    """The templates of the `DOCPROC_TEMPLATES` folder (none when unset).

    Raises DocprocError for a folder that does not exist, and for an S3 prefix, which
    the caller reads itself and passes to `pdf_options`.
    """
    if not where:
        return ()
    if where.startswith("s3://"):
        raise DocprocError(
            f"DOCPROC_TEMPLATES={where}: templates on S3 are read by the pipeline, "
            "not by this command"
        )
    folder = Path(where).expanduser()
    if not folder.is_dir():
        raise DocprocError(f"DOCPROC_TEMPLATES={where} is not a folder")
    return _folder(str(folder.resolve()), _signature(folder))


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Each file's path, size and modification time: what changes when a template does."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append((path, st.st_size, st.st_mtime_ns))
    return tuple(sorted(found))


@lru_cache(maxsize=4)
def _folder(path: str, signature: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, str], ...]:
    return tpl.folder(path)
