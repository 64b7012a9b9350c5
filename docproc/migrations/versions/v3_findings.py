"""Schema v3 (SPEC sections 3.1 and 4): `document_findings`, the official rules' findings.

A new table only: every existing row stays as it is (documents processed before have no
findings, as if the official rules had been off).

Revision ID: v3
Revises: v2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docproc.schema import MYSQL_OPTIONS

revision = "v3"
down_revision = "v2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_findings",
        sa.Column(
            "document_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("flag", sa.String(16), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            ondelete="CASCADE",
            name="fk_document_findings_document",
        ),
        **MYSQL_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("document_findings")
