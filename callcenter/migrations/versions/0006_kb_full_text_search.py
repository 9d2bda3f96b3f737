"""knowledge base search in the database engines' own full-text search

SQLite: the FTS5 virtual table ``kb_fts``. PostgreSQL: a weighted ``tsvector`` column on
``kb_articles`` with a GIN index. The postings table ``kb_terms`` goes. Checksums are
cleared, so the next ``callcenter kb sync`` re-indexes every article.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As callcenter.kb_models.FTS_DDL was when this migration was written.
FTS_DDL = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5("
    "article_id UNINDEXED, language_token, title, tags, summary, body, "
    "tokenize = 'ascii')"
)


def upgrade() -> None:
    op.drop_index("ix_kb_terms_term_article", table_name="kb_terms")
    op.drop_table("kb_terms")
    op.add_column(
        "kb_articles",
        sa.Column(
            "search_vector",
            sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"),
            nullable=True,
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_kb_articles_search_vector",
            "kb_articles",
            ["search_vector"],
            postgresql_using="gin",
        )
    else:
        op.execute(FTS_DDL)
    op.execute("UPDATE kb_articles SET checksum = ''")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_kb_articles_search_vector", table_name="kb_articles")
    else:
        op.execute("DROP TABLE kb_fts")
    op.drop_column("kb_articles", "search_vector")
    op.create_table(
        "kb_terms",
        sa.Column("article_id", sa.String(length=100), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id", "term", "field"),
    )
    op.create_index("ix_kb_terms_term_article", "kb_terms", ["term", "article_id"])
    op.execute("UPDATE kb_articles SET checksum = ''")
