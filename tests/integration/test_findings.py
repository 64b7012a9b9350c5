"""The official rules' findings and the flags in the database (SPEC 3.1, 2.6 and 4):
findings in `document_findings`, written with the document's row and replaced with it;
`nonconformant` and `extracted` in `documents.flags`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from docproc import formats, loader, rules
from docproc.models import FetchedObject, Format, Invoice, ObjectRef, OfficialRules, Rejection
from docproc.schema import document_findings, documents
from tests.support import builders

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"
UBL = DATA / "en16931-ubl" / "ubl-tc434-example2.xml"


def br_cl_13() -> bytes:
    """A UBL invoice that docproc's own rules accept and the official BR-CL-13 does not."""
    return UBL.read_bytes().replace(
        b'<cbc:ItemClassificationCode listID="STI">65434568',
        b'<cbc:ItemClassificationCode listID="XX">65434568',
    )


def fetched(data: bytes, key: str = "in/ubl.xml", etag: str = "e1") -> FetchedObject:
    return FetchedObject(ObjectRef("src", key, etag), len(data), data, "0" * 64)


def stored(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        docs = conn.execute(
            select(documents.c.object_key, documents.c.status, documents.c.flags).order_by(
                documents.c.object_key
            )
        ).all()
        found = conn.execute(
            select(
                documents.c.object_key,
                document_findings.c.seq,
                document_findings.c.rule,
                document_findings.c.flag,
            )
            .join(documents, documents.c.id == document_findings.c.document_id)
            .order_by(documents.c.object_key, document_findings.c.seq)
        ).all()
    return [tuple(r) for r in docs], [tuple(r) for r in found]


def test_a_nonconformant_invoice_is_loaded_flagged_with_its_findings(engine: Engine) -> None:
    data = br_cl_13()
    invoice = rules.judge(formats.read(data), OfficialRules.REPORT)
    assert isinstance(invoice, Invoice)
    [decision] = loader.record(engine, loaded=[(invoice, fetched(data))])
    assert "nonconformant" in decision.flags
    docs, found = stored(engine)
    assert docs == [("in/ubl.xml", "loaded", "nonconformant")]
    fatal = [row for row in found if row[3] == "fatal"]
    assert [row[2] for row in fatal] == ["BR-CL-13"]
    assert [row[1] for row in found] == list(range(1, len(found) + 1))

    # The same version again, now judged with the official rules off: its findings go.
    again = rules.judge(formats.read(data), OfficialRules.OFF)
    assert isinstance(again, Invoice)
    loader.record(engine, loaded=[(again, fetched(data))])
    docs, found = stored(engine)
    assert docs == [("in/ubl.xml", "loaded", None)]
    assert found == []


def test_a_rejection_keeps_its_findings(engine: Engine) -> None:
    data = br_cl_13()
    rejection = rules.judge(formats.read(data), OfficialRules.ENFORCE)
    assert isinstance(rejection, Rejection)
    loader.record(engine, rejected=[(fetched(data).ref, rejection)])
    docs, found = stored(engine)
    assert docs == [("in/ubl.xml", "rejected", None)]
    assert "BR-CL-13" in [row[2] for row in found]


def test_a_template_read_invoice_is_flagged_extracted(engine: Engine) -> None:
    invoice = builders.invoice(format=Format.PDF_TEXT, profile="template:acme")
    [decision] = loader.record(engine, loaded=[(invoice, fetched(b"%PDF-", "in/a.pdf"))])
    assert decision.flags == ("extracted",)
    docs, found = stored(engine)
    assert docs == [("in/a.pdf", "loaded", "extracted")]
    assert found == []
