"""Schema v4 (SPEC sections 4 and 12): `document_reviews`, a person's answer to a question.

A new table only: every existing row stays as it is (no question was answered before).

Revision ID: v4
Revises: v3
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docproc.schema import MYSQL_OPTIONS, free_text

revision = "v4"
down_revision = "v3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_reviews",
        sa.Column(
            "document_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("decided_by", free_text()),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            ondelete="CASCADE",
            name="fk_document_reviews_document",
        ),
        **MYSQL_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("document_reviews")
