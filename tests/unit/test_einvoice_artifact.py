"""The run's artifact for an e-invoice (SPEC section 7): seller and buyer with their VAT ids,
the totals down to the amount due, the VAT breakdown; a rejection names whose invoice it was."""

from __future__ import annotations

from pathlib import Path

from docproc import export, formats, rules
from docproc.models import Invoice, ObjectRef, Rejection

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoices"


def judged(name: str, edit: tuple[bytes, bytes] | None = None) -> Invoice | Rejection:
    data = (DATA / name).read_bytes()
    if edit:
        assert edit[0] in data
        data = data.replace(*edit)
    return rules.judge(formats.read(data))


def test_a_cii_invoice_walks_its_totals_down_to_the_amount_due() -> None:
    invoice = judged("en16931-cii/huf_example_cii.xml")
    assert isinstance(invoice, Invoice)
    lines = export.invoice_markdown(invoice, "s3://s/k", "s3://t/c.csv").splitlines()
    assert lines[0] == "# Invoice 21/001003559/996 loaded"
    for line in (
        "| seller | DKV Euro Service GmbH + Co. KG (VAT id HU30048650) |",
        "| buyer | HIL Heeresinstandsetzungslogistik GmbH (VAT id DE242688168) |",
        "| lines (BT-106) | 69180.00 HUF |",
        "| = net (BT-109) | 69180.00 |",
        "| + VAT (BT-110) | 18679.00 |",
        "| = total (BT-112) | **87859.00** |",
        "| = payable (BT-115) | **87859.00** HUF |",
        "**VAT breakdown (BG-23)**",
        "| VAT | S | 27.00 | 69180.00 | 18679.00 |",
    ):
        assert line in lines, line
    order = [
        next(i for i, t in enumerate(lines) if f"(BT-{n})" in t)
        for n in (106, 107, 108, 109, 110, 112, 113, 114, 115)
    ]
    assert order == sorted(order)  # BT-106 to BT-115, in the order they add up


def test_a_text_invoice_keeps_its_short_summary(sample_file: bytes) -> None:
    invoice = rules.judge(formats.read(sample_file))
    assert isinstance(invoice, Invoice)
    text = export.invoice_markdown(invoice, "s3://s/k", "s3://t/c.csv")
    assert "| total | **8150.00** |" in text and "BT-" not in text


def test_a_rejected_einvoice_says_its_format_ids_and_business_rule() -> None:
    rejection = judged(
        "factur-x/factur-x-en16931.xml",
        (b"<ram:GrandTotalAmount>", b"<ram:GrandTotalAmount>1"),
    )
    assert isinstance(rejection, Rejection)
    assert (rejection.format, rejection.issuer_key, rejection.invoice_id) == (
        "cii", "FR11123456782", "F20260023"
    )  # fmt: skip
    text = export.rejection_markdown(ObjectRef("b", "in/x.xml"), rejection, "s3://t/r.json")
    assert "Format: cii; invoice `F20260023` from issuer `FR11123456782`" in text
    assert "[BR-CO-15]" in text
