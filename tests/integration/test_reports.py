"""The VAT and spend reports (SPEC 12) against sums made by hand, on MariaDB and SQLite.

The invoices span two months, three currencies and the rates 19, 5.5 and 0; a credit
note nets against an invoice of its month; a text-v1 invoice names its taxes by kind;
a document held as a conflict is not loaded and counts nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from docproc import loader, reports
from docproc.cli import app
from docproc.models import DocumentType, Invoice, Tax
from tests.support.reports import einvoice, fetched, vat_entry

D = Decimal


A1 = einvoice(
    "DE111", "A1", date(2026, 10, 15), "EUR",
    vat_entry("S", "19", "100.00", "19.00"), vat_entry("S", "5.5", "50.00", "2.75"),
)  # fmt: skip
A2 = einvoice("DE111", "A2", date(2026, 10, 31), "EUR", vat_entry("S", "19", "200.10", "38.02"))
A3 = einvoice("DE111", "A3", date(2026, 11, 1), "EUR", vat_entry("S", "19", "20.00", "3.80"))
# Written with positive amounts, as EN 16931 has it: it takes back 10.00 and 1.90.
C1 = einvoice(
    "DE111", "C1", date(2026, 11, 1), "EUR", vat_entry("S", "19", "10.00", "1.90"),
    document_type=DocumentType.CREDIT_NOTE, type_code="381",
)  # fmt: skip
F1 = einvoice(
    "FR222", "F1", date(2026, 11, 20), "USD",
    vat_entry("S", "19", "1000.00", "190.00"), vat_entry("Z", "0", "250.00", "0.00"),
    seller='=1+2 "Quoted", [b]Ltd',
)  # fmt: skip
# Text v1: taxes by kind only, two SGST lines, the issuer its customer id.
V1 = Invoice(
    customer_id="sm-LK0080145",
    invoice_id="inv-00001",
    invoice_date=date(2026, 11, 30),
    seller="Space Mechanics Inc.",
    buyer="Starfleet",
    currency="INR",
    amount=D("2100.00"),
    tax_total=D("200.00"),
    total=D("2300.00"),
    total_in_words=None,
    taxes=(Tax("SGST", D("100.00")), Tax("CGST", D("80.00")), Tax("SGST", D("20.00"))),
)
LOADED = (A1, A2, A3, C1, F1, V1)
# A later version of A2 with other values: held as a conflict, never loaded.
A2_CHANGED = einvoice(
    "DE111", "A2", date(2026, 10, 31), "EUR", vat_entry("S", "19", "999.00", "189.81")
)

VAT = [
    ("2026-10", "EUR", "S", D("5.5"), D("50.00"), D("2.75"), 1),
    ("2026-10", "EUR", "S", D("19"), D("300.10"), D("57.02"), 2),  # A1 + A2
    ("2026-11", "EUR", "S", D("19"), D("10.00"), D("1.90"), 2),  # A3 - C1
    ("2026-11", "INR", "CGST", None, None, D("80.00"), 1),
    ("2026-11", "INR", "SGST", None, None, D("120.00"), 1),  # 100 + 20, one invoice
    ("2026-11", "USD", "S", D("19"), D("1000.00"), D("190.00"), 1),
    ("2026-11", "USD", "Z", D("0"), D("250.00"), D("0.00"), 1),
]
SPEND = [
    ("2026-10", "DE111", "Acme GmbH", "EUR", 2, D("409.87")),  # 171.75 + 238.12
    ("2026-11", "DE111", "Acme GmbH", "EUR", 2, D("11.90")),  # 23.80 - 11.90
    ("2026-11", "FR222", '=1+2 "Quoted", [b]Ltd', "USD", 1, D("1440.00")),
    ("2026-11", "sm-LK0080145", "Space Mechanics Inc.", "INR", 1, D("2300.00")),
]


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    loader.record(engine, [(inv, fetched(inv)) for inv in LOADED])
    [decision] = loader.record(engine, [(A2_CHANGED, fetched(A2_CHANGED, "2"))])
    assert not decision.writes  # held (DOCPROC_DUPLICATE_POLICY=hold): not loaded
    return engine


def table(frame: object) -> list[tuple[object, ...]]:
    return list(frame.itertuples(index=False, name=None))  # type: ignore[attr-defined]


def test_vat_sums_per_month_currency_category_and_rate(loaded: Engine) -> None:
    frame = reports.vat(loaded)
    assert tuple(frame.columns) == reports.VAT_COLUMNS
    assert table(frame) == VAT
    # Exact 2-decimal Decimals, not floats that happen to compare equal.
    assert all(
        str(v).count(".") == 1 and len(str(v).split(".")[1]) == 2 for v in frame["tax_amount"]
    )


def test_spend_sums_totals_per_month_and_issuer(loaded: Engine) -> None:
    frame = reports.spend(loaded)
    assert tuple(frame.columns) == reports.SPEND_COLUMNS
    assert table(frame) == SPEND


def test_from_and_to_are_inclusive_dates(loaded: Engine) -> None:
    # A2 on 2026-10-31 and A3, C1 on 2026-11-01: both edges in.
    frame = reports.spend(loaded, date(2026, 10, 31), date(2026, 11, 1))
    assert table(frame) == [
        ("2026-10", "DE111", "Acme GmbH", "EUR", 1, D("238.12")),
        ("2026-11", "DE111", "Acme GmbH", "EUR", 2, D("11.90")),
    ]
    assert table(reports.vat(loaded, start=date(2026, 11, 1))) == VAT[2:]
    assert table(reports.vat(loaded, end=date(2026, 10, 31))) == VAT[:2]
    assert table(reports.vat(loaded, date(2026, 12, 1), date(2026, 12, 31))) == []


def test_issuer_selects_one_issuer_key(loaded: Engine) -> None:
    assert table(reports.spend(loaded, issuer="sm-LK0080145")) == SPEND[3:]
    assert table(reports.vat(loaded, issuer="FR222")) == VAT[5:]
    assert table(reports.vat(loaded, issuer="fr222")) == []  # keys compare byte for byte


def test_the_csv_bytes(loaded: Engine) -> None:
    assert reports.to_csv(reports.vat(loaded, issuer="FR222")) == (
        b"period,currency,category,rate,taxable_amount,tax_amount,invoices\r\n"
        b"2026-11,USD,S,19,1000.00,190.00,1\r\n"
        b"2026-11,USD,Z,0,250.00,0.00,1\r\n"
    )
    # A name that would start a formula is defused; a credit note's minus is a number's.
    spend = reports.spend(loaded, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert reports.to_csv(spend) == (
        b"period,issuer_key,seller,currency,invoices,total\r\n"
        b"2026-11,DE111,Acme GmbH,EUR,2,11.90\r\n"
        b'2026-11,FR222,"\'=1+2 ""Quoted"", [b]Ltd",USD,1,1440.00\r\n'
        b"2026-11,sm-LK0080145,Space Mechanics Inc.,INR,1,2300.00\r\n"
    )
    only_credit = reports.to_csv(reports.vat(loaded, date(2026, 11, 1), date(2026, 11, 1)))
    assert b"2026-11,EUR,S,19,10.00,1.90,2\r\n" in only_credit
    v1 = reports.to_csv(reports.vat(loaded, issuer="sm-LK0080145"))
    assert v1.endswith(b"2026-11,INR,CGST,,,80.00,1\r\n2026-11,INR,SGST,,,120.00,1\r\n")


def test_a_credit_note_alone_is_negative(engine: Engine) -> None:
    loader.record(engine, [(C1, fetched(C1))])
    assert table(reports.vat(engine)) == [
        ("2026-11", "EUR", "S", D("19"), D("-10.00"), D("-1.90"), 1)
    ]
    assert table(reports.spend(engine)) == [
        ("2026-11", "DE111", "Acme GmbH", "EUR", 1, D("-11.90"))
    ]


def test_a_taxable_amount_missing_in_a_group_leaves_it_empty(engine: Engine) -> None:
    """Not the sum of the others, which would pass for the group's whole base."""
    given = einvoice("DE111", "G1", date(2026, 10, 1), "EUR", vat_entry("S", "19", "100", "19"))
    missing = einvoice("DE111", "G2", date(2026, 10, 2), "EUR", Tax("VAT", D("3.80"), "S", D("19")))
    loader.record(engine, [(inv, fetched(inv)) for inv in (given, missing)])
    assert table(reports.vat(engine)) == [("2026-10", "EUR", "S", D("19"), None, D("22.80"), 2)]


def test_large_sums_are_exact(engine: Engine) -> None:
    """SQLite keeps DECIMAL as floating point: summed as such, even with SQLite's
    compensated sum, these 100 give 444444444444444.06; in whole cents, exact."""
    big = vat_entry("S", "19", "4444444444444.44", "844444444444.44")
    many = [einvoice("DE333", f"M{n}", date(2026, 10, 1), "EUR", big) for n in range(100)]
    loader.record(engine, [(inv, fetched(inv)) for inv in many])
    [row] = table(reports.vat(engine))
    sums = (D("444444444444444.00"), D("84444444444444.00"), 100)
    assert row == ("2026-10", "EUR", "S", D("19"), *sums)
    [(*_, total)] = table(reports.spend(engine))
    assert total == D("528888888888888.00")


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ("0E-10", "0"),
        ("-0E-10", "0"),
        ("1.0000000000", "1"),
        ("5.5000000000", "5.5"),
        ("1E+3", "1000"),
        ("20.0000000000", "20"),
        ("0.0000001000", "0.0000001"),
    ],
)
def test_numbers_print_as_a_person_writes_them(stored: str, written: str) -> None:
    assert reports.plain(D(stored)) == written


def test_months() -> None:
    assert reports.month_before(date(2026, 1, 1)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert reports.month_before(date(2024, 3, 31)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert reports.parse_month("2026-11") == (date(2026, 11, 1), date(2026, 11, 30))
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01"):
        with pytest.raises(ValueError, match="not a month"):
            reports.parse_month(bad)


class TestCommand:
    runner = CliRunner()

    @pytest.fixture
    def database(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
        from tasks import resources

        url = f"sqlite:///{tmp_path}/docproc.db"
        monkeypatch.setenv("DOCPROC_DATABASE_URL", url)
        resources.reset()
        engine = resources.engine()
        loader.record(engine, [(inv, fetched(inv)) for inv in LOADED])
        yield engine
        resources.reset()

    def test_vat_prints_the_table_and_writes_the_csv(
        self, database: Engine, tmp_path: Path
    ) -> None:
        out = tmp_path / "vat.csv"
        args = ["report", "vat", "--from", "2026-11-01", "--to", "2026-11-30", "--csv", str(out)]
        result = self.runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        november = reports.vat(database, date(2026, 11, 1), date(2026, 11, 30))
        assert out.read_bytes() == reports.to_csv(november)
        assert out.read_bytes().count(b"\r\n") == 1 + len(VAT[2:])
        assert "│ 2026-11 │ USD      │ Z        │    0 │" in result.output
        assert "0E-10" not in result.output

    def test_spend_shows_names_as_text(self, database: Engine) -> None:
        args = ["report", "spend", "--issuer", "FR222"]
        result = self.runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert '=1+2 "Quoted", [b]Ltd' in result.output
        assert "1440.00" in result.output
        assert "Acme" not in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--from", "2026-11-31"], "--from '2026-11-31' is not a date (expected YYYY-MM-DD)"),
            (["--to", "yesterday"], "--to 'yesterday' is not a date (expected YYYY-MM-DD)"),
            (
                ["--from", "2026-11-02", "--to", "2026-11-01"],
                "--from 2026-11-02 is after --to 2026-11-01",
            ),
        ],
    )
    def test_a_bad_date_is_a_usage_error_in_one_line(
        self, database: Engine, args: list[str], message: str
    ) -> None:
        result = self.runner.invoke(app, ["report", "vat", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 2
        assert result.output.strip() == f"error: {message}"
