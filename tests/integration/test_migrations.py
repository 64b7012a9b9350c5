"""Schema v1 -> v2 in place (SPEC section 4), on MariaDB and SQLite, rows kept.

The v1 database is made by revision v1 (a frozen copy of the first release's DDL) with
its `alembic_version` removed, as a database the first release created looks, and filled
with the rows that release's loader wrote for the sample and generated invoices.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from bench.parse import make_corpus
from docproc import formats, loader, migrations, schema
from docproc.models import FetchedObject, Invoice, ObjectRef, Rejection
from docproc.outputs import output
from docproc.rules.text import validate
from docproc.settings import Settings
from tests.support.pipeline import TEST_DB_URL

SAMPLE = Path(__file__).resolve().parents[2] / "docproc" / "samples" / "docproc-invoice.txt"
V1_TABLES = ("invoices", "invoice_items", "invoice_taxes", "documents")
AT = datetime(2024, 5, 6, 7, 8, 9)


@pytest.fixture(params=["mariadb", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/docproc.db"
        return
    server = make_url(TEST_DB_URL)
    name = f"docproc_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE `{name}`"))
    admin.dispose()


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    eng = loader.make_engine(url)
    yield eng
    eng.dispose()


def make_v1(engine: Engine) -> None:
    """Tables as the first release created them: v1's DDL, no `alembic_version`."""
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), migrations.V1)
        conn.execute(text("DROP TABLE alembic_version"))


def load_v1(conn: Connection, tables: MetaData, inv: Invoice, ref: ObjectRef, n: int) -> None:
    """The rows the first release's loader wrote for one invoice (its `record`, frozen)."""
    owner = {"customer_id": inv.customer_id, "invoice_id": inv.invoice_id}
    conn.execute(
        tables.tables["invoices"].insert(),
        owner
        | {
            "invoice_date": inv.invoice_date, "seller": inv.seller, "buyer": inv.buyer,
            "currency": inv.currency, "amount": inv.amount, "tax_total": inv.tax_total,
            "total": inv.total, "total_in_words": inv.total_in_words,
            "source_bucket": ref.bucket, "source_key": ref.key, "source_etag": ref.etag,
            "content_sha256": f"{n:064x}", "loaded_at": AT,
        },
    )  # fmt: skip
    items = [
        owner | {"line_no": i.line_no, "description": i.description, "amount": i.amount,
                 "tax": i.tax}
        for i in inv.items
    ]  # fmt: skip
    if items:
        conn.execute(tables.tables["invoice_items"].insert(), items)
    taxes = [owner | {"kind": t.kind, "amount": t.amount} for t in inv.taxes]
    if taxes:
        conn.execute(tables.tables["invoice_taxes"].insert(), taxes)
    record_v1(conn, tables, ref, "loaded", None, inv.customer_id, inv.invoice_id, n)


def record_v1(
    conn: Connection,
    tables: MetaData,
    ref: ObjectRef,
    status: str,
    reasons: str | None,
    customer_id: str | None,
    invoice_id: str | None,
    n: int,
) -> None:
    conn.execute(
        tables.tables["documents"].insert(),
        {
            "bucket": ref.bucket, "object_key": ref.key, "object_key_sha256": f"{n:064x}",
            "etag": ref.etag, "status": status, "reasons": reasons, "customer_id": customer_id,
            "invoice_id": invoice_id, "flow_run_id": f"run-{n}", "processed_at": AT,
        },
    )  # fmt: skip


def fill_v1(engine: Engine) -> int:
    """The sample and generated invoices loaded, some documents rejected; returns how many
    invoices."""
    documents = [SAMPLE.read_bytes(), *make_corpus(40, seed=7)]
    tables = MetaData()
    tables.reflect(engine, only=V1_TABLES)
    loaded = 0
    with engine.begin() as conn:
        for n, data in enumerate(documents, start=1):
            ref = ObjectRef("src", f"in/doc {n}.txt", f"etag{n}")
            verdict = validate(formats.read(data))
            if isinstance(verdict, Invoice) and " " not in verdict.invoice_id:
                load_v1(conn, tables, verdict, ref, n)
                loaded += 1
            else:
                reasons = ",".join(verdict.reasons) if isinstance(verdict, Rejection) else "bad_id"
                record_v1(conn, tables, ref, "rejected", reasons, None, None, n)
        record_v1(
            conn, tables, ObjectRef("src", "big", "e"), "rejected", "too_large", None, None, 0
        )
    return loaded


def rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]


def test_a_v1_database_is_upgraded_in_place_rows_kept(engine: Engine) -> None:
    make_v1(engine)
    loaded = fill_v1(engine)
    assert loaded > 10
    old = {table: rows(engine, table) for table in V1_TABLES}
    assert len(old["invoice_taxes"]) > loaded  # several tax kinds per invoice

    done = migrations.upgrade(engine)
    assert (done.before, done.after, done.changed) == ("v1", migrations.head(), True)
    assert done.rows["invoices"] == loaded

    new_invoices = {(r["issuer_key"], r["invoice_id"]): r for r in rows(engine, "invoices")}
    assert len(new_invoices) == len(old["invoices"])
    for before in old["invoices"]:
        after = new_invoices[(before["customer_id"], before["invoice_id"])]
        assert {k: after[k] for k in before} == before  # every v1 value as it was
        assert Decimal(after["net_total"]) == Decimal(before["amount"])
        assert Decimal(after["payable"]) == Decimal(before["total"])
        for zero in ("allowance_total", "charge_total", "prepaid", "rounding"):
            assert Decimal(after[zero]) == 0
        assert (after["document_type"], after["format"]) == ("invoice", "text-v1")
        for empty in ("type_code", "profile", "due_date", "seller_tax_id", "buyer_tax_id"):
            assert after[empty] is None

    new_items = {
        (r["issuer_key"], r["invoice_id"], r["line_no"]): r for r in rows(engine, "invoice_items")
    }
    assert len(new_items) == len(old["invoice_items"])
    for before in old["invoice_items"]:
        after = new_items[(before["customer_id"], before["invoice_id"], before["line_no"])]
        assert {k: after[k] for k in before if k != "customer_id"} == {
            k: v for k, v in before.items() if k != "customer_id"
        }
        assert [after[k] for k in ("line_id", "quantity", "unit_code", "unit_price")] == [None] * 4

    def tax_view(r: dict[str, Any], owner: str) -> tuple[Any, ...]:
        return (r[owner], r["invoice_id"], r["kind"], Decimal(r["amount"]))

    new_taxes = rows(engine, "invoice_taxes")
    assert sorted(tax_view(r, "issuer_key") for r in new_taxes) == sorted(
        tax_view(r, "customer_id") for r in old["invoice_taxes"]
    )
    assert all(r["category"] is None and r["taxable_amount"] is None for r in new_taxes)
    per_invoice: dict[tuple[str, str], list[int]] = {}
    for r in new_taxes:
        per_invoice.setdefault((r["issuer_key"], r["invoice_id"]), []).append(r["entry_no"])
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in per_invoice.values())

    new_documents = {r["id"]: r for r in rows(engine, "documents")}
    assert len(new_documents) == len(old["documents"])
    for before in old["documents"]:
        after = new_documents[before["id"]]
        assert {k: after[k] for k in before} == before
        assert after["issuer_key"] == before["customer_id"]
        assert (after["flags"], after["duplicate_of"]) == (None, None)
        expected = "unknown" if before["reasons"] == "too_large" else "text-v1"
        assert after["format"] == expected

    # Upgrading again changes nothing.
    snapshot = {table: rows(engine, table) for table in V1_TABLES}
    again = migrations.upgrade(engine)
    assert (again.before, again.changed) == (migrations.head(), False)
    assert {table: rows(engine, table) for table in V1_TABLES} == snapshot


def test_the_upgraded_database_takes_new_documents(engine: Engine) -> None:
    make_v1(engine)
    fill_v1(engine)
    migrations.upgrade(engine)
    data = SAMPLE.read_bytes().replace(b"inv-00001", b"INV/18-19/0001")
    invoice = validate(formats.read(data))
    assert isinstance(invoice, Invoice)
    fetched = FetchedObject(ObjectRef("src", "in/new.txt", "new"), len(data), data, "f" * 64)
    loader.record(engine, [(invoice, fetched)], flow_run_id="run-new")
    # The sample itself again, from another object: the upgraded v1 row is found under its
    # v2 key with the same business values, so the document is a duplicate (SPEC 10).
    sample = validate(formats.read(SAMPLE.read_bytes()))
    assert isinstance(sample, Invoice)
    again = FetchedObject(ObjectRef("src", "in/again.txt", "again"), 1, b"x", "e" * 64)
    [decision] = loader.record(engine, [(sample, again)])
    assert decision.kind == "duplicate"

    with engine.connect() as conn:
        new = conn.execute(
            select(schema.invoices).where(schema.invoices.c.invoice_id == "INV/18-19/0001")
        ).one()
        assert (new.issuer_key, new.customer_id, new.format) == ("sm-LK0080145",) * 2 + ("text-v1",)
        assert (new.net_total, new.payable) == (Decimal("7650.00"), Decimal("8150.00"))
        items = conn.execute(
            select(schema.invoice_items.c.line_no).where(
                schema.invoice_items.c.invoice_id == "INV/18-19/0001"
            )
        ).scalars()
        assert list(items) == [1, 2, 3, 4, 5]
        kept = conn.execute(
            select(schema.invoices.c.source_key).where(schema.invoices.c.invoice_id == "inv-00001")
        ).scalar_one()
        assert kept == "in/doc 1.txt"
    assert loader.find_document(engine, fetched.ref) == loader.DocumentRecord(
        "loaded", (), "sm-LK0080145", "sm-LK0080145", "INV/18-19/0001", "run-new"
    )

    csv_out = output(fetched.ref, invoice, Settings(export_prefix="x/"), None, AT)  # type: ignore[call-arg]
    assert csv_out.key == "x/sm-LK0080145/INV%2F18-19%2F0001.csv"
    table = list(csv.reader(io.StringIO(csv_out.body.decode(), newline="")))
    assert table[1][1] == "INV/18-19/0001" and table[1][14] == "sm-LK0080145"


def test_upgraded_tables_are_the_current_ones(engine: Engine) -> None:
    """The frozen DDL of the migrations and `docproc.schema` describe the same tables."""
    make_v1(engine)
    migrations.upgrade(engine)
    found = inspect(engine)
    for name, table in schema.metadata.tables.items():
        expected = sorted((c.name, c.nullable, c.primary_key) for c in table.columns)
        pk = set(found.get_pk_constraint(name)["constrained_columns"])
        actual = sorted(
            (c["name"], c["nullable"], c["name"] in pk) for c in found.get_columns(name)
        )
        assert actual == expected, name
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()


def test_tables_created_on_first_use_are_stamped_current(engine: Engine) -> None:
    schema.create_all(engine)
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
    assert not migrations.upgrade(engine).changed


def init_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`docproc init-db`, or the command `args` name, on the database at `url`."""
    env = {**os.environ, "DOCPROC_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "docproc", *(args or ("init-db",))], capture_output=True,
        text=True, env=env, check=False,
    )  # fmt: skip


def test_reconcile_on_old_tables_says_init_db_in_one_line(url: str, engine: Engine) -> None:
    make_v1(engine)
    done = init_db(url, "reconcile", "s3://any-bucket/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "docproc init-db" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_db_creates_upgrades_and_then_leaves_alone(url: str, engine: Engine) -> None:
    make_v1(engine)
    fill_v1(engine)
    first = init_db(url)
    assert first.returncode == 0, first.stderr
    assert "upgraded from schema version v1 to v4, rows kept" in first.stdout
    second = init_db(url)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert "Traceback" not in first.stderr + second.stderr


def test_init_db_creates_the_tables_of_a_new_database(url: str, engine: Engine) -> None:
    done = init_db(url)
    assert done.returncode == 0, done.stderr
    assert "created at schema version v4" in done.stdout
    assert set(inspect(engine).get_table_names()) >= {*V1_TABLES, "alembic_version"}


def test_init_db_takes_mysql_urls_as_pymysql(mysql_url: str) -> None:
    """`mysql://`, as most MySQL guides print it, works (with a log line), no traceback."""
    done = init_db(mysql_url.replace("mysql+pymysql://", "mysql://", 1))
    assert done.returncode == 0, done.stderr
    assert "ready in mysql+pymysql://" in done.stdout
    assert "PyMySQL" in done.stderr
    assert "Traceback" not in done.stderr and "MySQLdb" not in done.stderr


def test_first_use_refuses_old_tables_in_one_line(engine: Engine) -> None:
    make_v1(engine)
    with pytest.raises(schema.SchemaOutdated, match=r"schema version v1.*docproc init-db"):
        schema.create_all(engine)
    migrations.upgrade(engine)
    schema.create_all(engine)  # current now: nothing to say
