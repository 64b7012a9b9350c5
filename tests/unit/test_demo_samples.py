"""The demo's documents come from the package, so that an installed wheel uploads them all."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

from docproc import formats, rules
from docproc.demo import demo_documents, samples_folder
from docproc.formats import PdfOptions, templates
from docproc.models import Invoice

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "docproc"
EINVOICES = REPO / "tests" / "data" / "einvoices"


def test_four_documents_each_loadable_and_of_its_format() -> None:
    documents = demo_documents()
    assert [name for name, _ in documents] == [
        "docproc-invoice.txt",
        "ubl-tc434-creditnote1.xml",
        "invoice_EN16931.pdf",
        "acme-tools-invoice.pdf",
    ]
    # The plain PDF is read with the template beside it, as the demo sets DOCPROC_TEMPLATES.
    pdf = PdfOptions(templates=templates.load(templates.folder(samples_folder())))
    judged = [rules.judge(formats.read(body, pdf=pdf)) for _, body in documents]
    assert all(isinstance(invoice, Invoice) for invoice in judged), judged
    assert [i.format for i in judged if isinstance(i, Invoice)] == [
        "text-v1",
        "ubl",
        "factur-x",
        "pdf-text",
    ]


def test_an_installed_package_away_from_the_repository_has_them_all(tmp_path: Path) -> None:
    """docproc as a wheel installs it: its modules and its package data, no `tests/` beside it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["docproc"]
    for path in PACKAGE.rglob("*"):
        relative = PurePosixPath(path.relative_to(PACKAGE).as_posix())
        shipped = path.suffix == ".py" or any(
            relative.match(pattern) and len(relative.parts) == len(PurePosixPath(pattern).parts)
            for pattern in patterns
        )
        if path.is_file() and shipped and "__pycache__" not in relative.parts:
            (tmp_path / "docproc" / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "docproc" / relative).write_bytes(path.read_bytes())
    code = (
        "import docproc.demo\n"
        "assert docproc.demo.__file__.startswith(sys.argv[1]), docproc.demo.__file__\n"
        "print(len(docproc.demo.demo_documents()))\n"
    )
    # devtools (the demo's emulator) from the repository, docproc from the copy.
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"


def test_the_samples_are_the_tests_files_with_their_licences() -> None:
    pairs = {
        "ubl-tc434-creditnote1.xml": EINVOICES / "en16931-ubl" / "ubl-tc434-creditnote1.xml",
        "invoice_EN16931.pdf": EINVOICES / "factur-x" / "invoice_EN16931.pdf",
        "LICENSE-EUPL-1.2.txt": EINVOICES / "en16931-ubl" / "LICENSE.txt",
        "LICENSE-factur-x.txt": EINVOICES / "factur-x" / "LICENSE.txt",
    }
    for name, original in pairs.items():
        assert (PACKAGE / "samples" / name).read_bytes() == original.read_bytes(), name
