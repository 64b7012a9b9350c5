"""The four tables of SPEC section 4, in SQLAlchemy Core, for MySQL/MariaDB and SQLite alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
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
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeEngine

metadata = MetaData()

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def _ascii(length: int) -> TypeEngine[str]:
    """Identifiers compare byte for byte (S3 and invoice ids are case-sensitive)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )


def _text() -> TypeEngine[str]:
    """Free text of any length a 1 MiB document can hold."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _key() -> TypeEngine[str]:
    """An S3 key: up to 1,024 bytes of UTF-8, compared byte for byte."""
    return String(1024).with_variant(
        mysql.VARCHAR(1024, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


MONEY = Numeric(15, 2, asdecimal=True)
ID = 64

invoices = Table(
    "invoices",
    metadata,
    Column("customer_id", _ascii(ID), primary_key=True),
    Column("invoice_id", _ascii(ID), primary_key=True),
    Column("invoice_date", Date, nullable=False),
    Column("seller", _text(), nullable=False),
    Column("buyer", _text(), nullable=False),
    Column("currency", String(3)),
    Column("amount", MONEY, nullable=False),
    Column("tax_total", MONEY, nullable=False),
    Column("total", MONEY, nullable=False),
    Column("total_in_words", _text()),
    Column("source_bucket", _ascii(63), nullable=False),
    Column("source_key", _key(), nullable=False),
    Column("source_etag", _ascii(64), nullable=False),
    Column("content_sha256", _ascii(64), nullable=False),
    Column("loaded_at", DateTime, nullable=False),
    # The primary key is the SPEC's unique (customer_id, invoice_id).
    **_MYSQL,
)

_INVOICE_FK = ForeignKeyConstraint(
    ["customer_id", "invoice_id"],
    ["invoices.customer_id", "invoices.invoice_id"],
    ondelete="CASCADE",
)

invoice_items = Table(
    "invoice_items",
    metadata,
    Column("customer_id", _ascii(ID), primary_key=True),
    Column("invoice_id", _ascii(ID), primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("description", _text(), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("tax", MONEY),
    _INVOICE_FK,
    **_MYSQL,
)

invoice_taxes = Table(
    "invoice_taxes",
    metadata,
    Column("customer_id", _ascii(ID), primary_key=True),
    Column("invoice_id", _ascii(ID), primary_key=True),
    Column("kind", _ascii(16), primary_key=True),
    Column("amount", MONEY, nullable=False),
    _INVOICE_FK._copy(),
    **_MYSQL,
)

documents = Table(
    "documents",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("bucket", _ascii(63), nullable=False),
    Column("object_key", _key(), nullable=False),
    # MySQL cannot index 1,024 utf8mb4 characters (3,072-byte limit), so the SPEC's
    # unique (bucket, object_key, etag) is kept through the key's SHA-256.
    Column("object_key_sha256", _ascii(64), nullable=False),
    Column("etag", _ascii(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reasons", Text),
    Column("customer_id", _ascii(ID)),
    Column("invoice_id", _ascii(ID)),
    Column("flow_run_id", String(36)),
    Column("processed_at", DateTime, nullable=False),
    UniqueConstraint("bucket", "object_key_sha256", "etag", name="uq_documents_version"),
    **_MYSQL,
)


def create_all(engine: Engine) -> None:
    """Create missing tables; existing ones are left as they are, so running it twice is safe."""
    metadata.create_all(engine, checkfirst=True)
