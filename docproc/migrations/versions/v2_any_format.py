"""Schema v2 (SPEC section 4): invoices of every format, keyed by (issuer_key, invoice_id).

v1's tables are renamed aside, v2's created (a frozen copy of their DDL), v1's rows
copied across with SQL section 4's values for text-v1 (issuer_key = customer_id,
net_total = amount, payable = total, zeros), and v1's tables dropped. Copying rather
than altering in place changes a primary key the same way on MySQL and SQLite, and
leaves exactly the tables a new database gets. MySQL commits each DDL statement, so
this step is not atomic there: back up before upgrading a production database.

Revision ID: v2
Revises: v1
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docproc.schema import MYSQL_OPTIONS, ascii_string, free_text, object_key

revision = "v2"
down_revision = "v1"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(15, 2, asdecimal=True)
QUANTITY = sa.Numeric(25, 10, asdecimal=True)
TABLES = ("invoices", "invoice_items", "invoice_taxes", "documents")
OLD = "{}_v1"


def _owner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["issuer_key", "invoice_id"],
        ["invoices.issuer_key", "invoices.invoice_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_invoice",
    )


def _create_tables() -> None:
    op.create_table(
        "invoices",
        sa.Column("issuer_key", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("customer_id", free_text()),
        sa.Column("document_type", sa.String(16), nullable=False),
        sa.Column("type_code", sa.String(16)),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("profile", free_text()),
        sa.Column("invoice_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date),
        sa.Column("seller", free_text(), nullable=False),
        sa.Column("seller_tax_id", free_text()),
        sa.Column("buyer", free_text(), nullable=False),
        sa.Column("buyer_tax_id", free_text()),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("allowance_total", MONEY, nullable=False),
        sa.Column("charge_total", MONEY, nullable=False),
        sa.Column("net_total", MONEY, nullable=False),
        sa.Column("tax_total", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("prepaid", MONEY, nullable=False),
        sa.Column("rounding", MONEY, nullable=False),
        sa.Column("payable", MONEY, nullable=False),
        sa.Column("total_in_words", free_text()),
        sa.Column("source_bucket", ascii_string(63), nullable=False),
        sa.Column("source_key", object_key(), nullable=False),
        sa.Column("source_etag", ascii_string(64), nullable=False),
        sa.Column("content_sha256", ascii_string(64), nullable=False),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "invoice_items",
        sa.Column("issuer_key", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("line_id", free_text()),
        sa.Column("description", free_text(), nullable=False),
        sa.Column("quantity", QUANTITY),
        sa.Column("unit_code", sa.String(16)),
        sa.Column("unit_price", QUANTITY),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("tax", MONEY),
        sa.Column("tax_category", sa.String(16)),
        sa.Column("tax_rate", QUANTITY),
        _owner_fk("invoice_items"),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "invoice_taxes",
        sa.Column("issuer_key", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("entry_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16)),
        sa.Column("rate", QUANTITY),
        sa.Column("taxable_amount", MONEY),
        sa.Column("amount", MONEY, nullable=False),
        _owner_fk("invoice_taxes"),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("bucket", ascii_string(63), nullable=False),
        sa.Column("object_key", object_key(), nullable=False),
        sa.Column("object_key_sha256", ascii_string(64), nullable=False),
        sa.Column("etag", ascii_string(64), nullable=False),
        sa.Column("format", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text),
        sa.Column("flags", sa.Text),
        sa.Column("duplicate_of", sa.BigInteger),
        sa.Column("issuer_key", ascii_string(64)),
        sa.Column("customer_id", free_text()),
        sa.Column("invoice_id", ascii_string(64)),
        sa.Column("flow_run_id", sa.String(36)),
        sa.Column("processed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("bucket", "object_key_sha256", "etag", name="uq_documents_version"),
        **MYSQL_OPTIONS,
    )


# Constants only: no value from a document is ever spliced into these statements.
_COPY = (
    """
    INSERT INTO invoices (
        issuer_key, invoice_id, customer_id, document_type, type_code, format, profile,
        invoice_date, due_date, seller, seller_tax_id, buyer, buyer_tax_id, currency,
        amount, allowance_total, charge_total, net_total, tax_total, total, prepaid,
        rounding, payable, total_in_words, source_bucket, source_key, source_etag,
        content_sha256, loaded_at)
    SELECT
        customer_id, invoice_id, customer_id, 'invoice', NULL, 'text-v1', NULL,
        invoice_date, NULL, seller, NULL, buyer, NULL, currency,
        amount, 0, 0, amount, tax_total, total, 0,
        0, total, total_in_words, source_bucket, source_key, source_etag,
        content_sha256, loaded_at
    FROM invoices_v1
    """,
    """
    INSERT INTO invoice_items (
        issuer_key, invoice_id, line_no, line_id, description, quantity, unit_code,
        unit_price, amount, tax, tax_category, tax_rate)
    SELECT customer_id, invoice_id, line_no, NULL, description, NULL, NULL,
        NULL, amount, tax, NULL, NULL
    FROM invoice_items_v1
    """,
    """
    INSERT INTO invoice_taxes (
        issuer_key, invoice_id, entry_no, kind, category, rate, taxable_amount, amount)
    SELECT customer_id, invoice_id,
        ROW_NUMBER() OVER (PARTITION BY customer_id, invoice_id ORDER BY kind),
        kind, NULL, NULL, NULL, amount
    FROM invoice_taxes_v1
    """,
    # v1 read every document as text-v1, except those too large to download.
    """
    INSERT INTO documents (
        id, bucket, object_key, object_key_sha256, etag, format, status, reasons, flags,
        duplicate_of, issuer_key, customer_id, invoice_id, flow_run_id, processed_at)
    SELECT id, bucket, object_key, object_key_sha256, etag,
        CASE WHEN reasons LIKE '%too_large%' THEN 'unknown' ELSE 'text-v1' END,
        status, reasons, NULL,
        NULL, customer_id, customer_id, invoice_id, flow_run_id, processed_at
    FROM documents_v1
    """,
)


def upgrade() -> None:
    for table in TABLES:
        op.rename_table(table, OLD.format(table))
    _create_tables()
    for statement in _COPY:
        op.execute(sa.text(statement))
    for table in ("invoice_items", "invoice_taxes", "documents", "invoices"):
        op.drop_table(OLD.format(table))


def downgrade() -> None:
    raise NotImplementedError(
        "schema v2 holds invoices v1 cannot (no customer id, several rates of one tax): "
        "restore the backup taken before the upgrade instead"
    )
