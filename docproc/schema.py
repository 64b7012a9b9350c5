"""The tables of SPEC sections 4 and 12 (schema v4), in SQLAlchemy Core, for MySQL and SQLite.

These are the current tables; `docproc.migrations` holds how a database made by an
earlier version becomes them. The column types below are shared with the migrations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeEngine

from docproc.errors import DocprocError
from docproc.ids import MAX_CODE_LENGTH, MAX_ID_LENGTH
from docproc.money import QUANTITY_DECIMALS, QUANTITY_INTEGER_DIGITS

metadata = MetaData()

MYSQL_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def ascii_string(length: int) -> TypeEngine[str]:
    """Identifiers compare byte for byte (S3 and invoice ids are case-sensitive)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )


def free_text() -> TypeEngine[str]:
    """Free text of any length a document can hold."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def object_key() -> TypeEngine[str]:
    """An S3 key: up to 1,024 bytes of UTF-8, compared byte for byte."""
    return String(1024).with_variant(
        mysql.VARCHAR(1024, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


MONEY = Numeric(15, 2, asdecimal=True)
# Quantities, unit prices and rates keep the decimals written, up to 10 (SPEC section 4).
QUANTITY = Numeric(QUANTITY_INTEGER_DIGITS + QUANTITY_DECIMALS, QUANTITY_DECIMALS, asdecimal=True)
ID = MAX_ID_LENGTH  # the id rule (docproc.ids) and the columns agree

invoices = Table(
    "invoices",
    metadata,
    Column("issuer_key", ascii_string(ID), primary_key=True),
    Column("invoice_id", ascii_string(ID), primary_key=True),
    # An e-invoice's buyer id (BT-46) is often a person's name: stored as written.
    Column("customer_id", free_text()),
    Column("document_type", String(16), nullable=False),
    Column("type_code", String(MAX_CODE_LENGTH)),
    Column("format", String(16), nullable=False),
    Column("profile", free_text()),
    Column("invoice_date", Date, nullable=False),
    Column("due_date", Date),
    Column("seller", free_text(), nullable=False),
    Column("seller_tax_id", free_text()),
    Column("buyer", free_text(), nullable=False),
    Column("buyer_tax_id", free_text()),
    Column("currency", String(3)),
    Column("amount", MONEY, nullable=False),
    Column("allowance_total", MONEY, nullable=False),
    Column("charge_total", MONEY, nullable=False),
    Column("net_total", MONEY, nullable=False),
    Column("tax_total", MONEY, nullable=False),
    Column("total", MONEY, nullable=False),
    Column("prepaid", MONEY, nullable=False),
    Column("rounding", MONEY, nullable=False),
    Column("payable", MONEY, nullable=False),
    Column("total_in_words", free_text()),
    Column("source_bucket", ascii_string(63), nullable=False),
    Column("source_key", object_key(), nullable=False),
    Column("source_etag", ascii_string(64), nullable=False),
    Column("content_sha256", ascii_string(64), nullable=False),
    Column("loaded_at", DateTime, nullable=False),
    # The primary key is the SPEC's unique (issuer_key, invoice_id).
    **MYSQL_OPTIONS,
)


def _owner_fk(table: str) -> ForeignKeyConstraint:
    """Named, so that a migration can recreate a child table next to its older copy."""
    return ForeignKeyConstraint(
        ["issuer_key", "invoice_id"],
        ["invoices.issuer_key", "invoices.invoice_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_invoice",
    )


invoice_items = Table(
    "invoice_items",
    metadata,
    Column("issuer_key", ascii_string(ID), primary_key=True),
    Column("invoice_id", ascii_string(ID), primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("line_id", free_text()),
    Column("description", free_text(), nullable=False),
    Column("quantity", QUANTITY),
    Column("unit_code", String(MAX_CODE_LENGTH)),
    Column("unit_price", QUANTITY),
    Column("amount", MONEY, nullable=False),
    Column("tax", MONEY),
    Column("tax_category", String(MAX_CODE_LENGTH)),
    Column("tax_rate", QUANTITY),
    _owner_fk("invoice_items"),
    **MYSQL_OPTIONS,
)

invoice_taxes = Table(
    "invoice_taxes",
    metadata,
    Column("issuer_key", ascii_string(ID), primary_key=True),
    Column("invoice_id", ascii_string(ID), primary_key=True),
    # One row per breakdown entry: an invoice may have several VAT rates of one category.
    Column("entry_no", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(MAX_CODE_LENGTH), nullable=False),
    Column("category", String(MAX_CODE_LENGTH)),
    Column("rate", QUANTITY),
    Column("taxable_amount", MONEY),
    Column("amount", MONEY, nullable=False),
    _owner_fk("invoice_taxes"),
    **MYSQL_OPTIONS,
)

documents = Table(
    "documents",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("bucket", ascii_string(63), nullable=False),
    Column("object_key", object_key(), nullable=False),
    # MySQL cannot index 1,024 utf8mb4 characters (3,072-byte limit), so the SPEC's
    # unique (bucket, object_key, etag) is kept through the key's SHA-256.
    Column("object_key_sha256", ascii_string(64), nullable=False),
    Column("etag", ascii_string(64), nullable=False),
    Column("format", String(16)),
    Column("status", String(16), nullable=False),
    Column("reasons", Text),
    Column("flags", Text),
    # The `id` of the loaded document this one duplicates or resembles (SPEC section 10).
    Column("duplicate_of", BigInteger),
    Column("issuer_key", ascii_string(ID)),
    Column("customer_id", free_text()),
    Column("invoice_id", ascii_string(ID)),
    Column("flow_run_id", String(36)),
    Column("processed_at", DateTime, nullable=False),
    UniqueConstraint("bucket", "object_key_sha256", "etag", name="uq_documents_version"),
    **MYSQL_OPTIONS,
)


# The official rules' findings on a document version (SPEC 3.1), written in the transaction
# of its `documents` row and replaced with it.
document_findings = Table(
    "document_findings",
    metadata,
    Column("document_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("rule", String(64), nullable=False),
    Column("flag", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("message", Text, nullable=False),
    ForeignKeyConstraint(
        ["document_id"], ["documents.id"], ondelete="CASCADE", name="fk_document_findings_document"
    ),
    **MYSQL_OPTIONS,
)


# A person's answer to a document's question (SPEC 12): one per document version, so a
# second answer finds the first. `decided_by` is who said so (the form's name, the
# command's --by or login), NULL where nobody is named.
document_reviews = Table(
    "document_reviews",
    metadata,
    Column("document_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("decision", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("decided_by", free_text()),
    Column("decided_at", DateTime, nullable=False),
    ForeignKeyConstraint(
        ["document_id"], ["documents.id"], ondelete="CASCADE", name="fk_document_reviews_document"
    ),
    **MYSQL_OPTIONS,
)


def create_all(engine: Engine) -> None:
    """Create missing tables; existing ones are left as they are, so running it twice is safe.

    A database created from nothing here is stamped with the current migration, so that
    `init-db` later knows it needs nothing; tables of an earlier version are refused
    in one line, since writing to them would fail on every document.
    """
    from docproc import migrations

    with engine.begin() as conn:
        fresh = not has_tables(conn)
        if not fresh and (found := migrations.current(conn)) != (head := migrations.head()):
            raise SchemaOutdated(
                f"the tables are at schema version {found}, this docproc needs {head}: "
                "run `python -m docproc init-db` to upgrade them in place"
            )
        metadata.create_all(conn, checkfirst=True)
        if fresh:
            migrations.stamp_head(conn)


class SchemaOutdated(DocprocError):
    """The database holds tables of an earlier schema version than this code writes."""


def has_tables(conn: Connection) -> bool:
    """Whether any of docproc's tables exists."""
    names = set(inspect(conn).get_table_names())
    return any(name in names for name in metadata.tables)
