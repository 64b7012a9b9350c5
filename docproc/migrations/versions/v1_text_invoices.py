"""Schema v1: the tables of the first release, keyed by (customer_id, invoice_id).

A frozen copy of that release's DDL. A database made before migrations existed has
these tables and no `alembic_version`; `init-db` stamps it with this revision first.

Revision ID: v1
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docproc.schema import MYSQL_OPTIONS, ascii_string, free_text, object_key

revision = "v1"
down_revision: str | None = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(15, 2, asdecimal=True)


def _owner_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_id", "invoice_id"],
        ["invoices.customer_id", "invoices.invoice_id"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("customer_id", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("invoice_date", sa.Date, nullable=False),
        sa.Column("seller", free_text(), nullable=False),
        sa.Column("buyer", free_text(), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("tax_total", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
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
        sa.Column("customer_id", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", free_text(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("tax", MONEY),
        _owner_fk(),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "invoice_taxes",
        sa.Column("customer_id", ascii_string(64), primary_key=True),
        sa.Column("invoice_id", ascii_string(64), primary_key=True),
        sa.Column("kind", ascii_string(16), primary_key=True),
        sa.Column("amount", MONEY, nullable=False),
        _owner_fk(),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("bucket", ascii_string(63), nullable=False),
        sa.Column("object_key", object_key(), nullable=False),
        sa.Column("object_key_sha256", ascii_string(64), nullable=False),
        sa.Column("etag", ascii_string(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text),
        sa.Column("customer_id", ascii_string(64)),
        sa.Column("invoice_id", ascii_string(64)),
        sa.Column("flow_run_id", sa.String(36)),
        sa.Column("processed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("bucket", "object_key_sha256", "etag", name="uq_documents_version"),
        **MYSQL_OPTIONS,
    )


def downgrade() -> None:
    for table in ("invoice_items", "invoice_taxes", "documents", "invoices"):
        op.drop_table(table)
