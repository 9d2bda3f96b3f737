"""knowledge base: per-term impacts for top-k ranking

The table ``kb_impacts`` holds, per term and language, the articles where the term's
precomputed BM25 contribution is highest. Checksums are cleared, so the next
``callcenter kb sync`` re-indexes every article and fills it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_impacts",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("article_id", sa.String(length=100), nullable=False),
        sa.Column("impact", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_kb_impacts_term_position",
        "kb_impacts",
        ["term", "position", "language", "article_id", "impact"],
    )
    op.execute("UPDATE kb_articles SET checksum = ''")


def downgrade() -> None:
    op.drop_index("ix_kb_impacts_term_position", table_name="kb_impacts")
    op.drop_table("kb_impacts")
    op.execute("UPDATE kb_articles SET checksum = ''")
