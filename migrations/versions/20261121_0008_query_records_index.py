"""Query records read from the index alone: the (subject, seq) index of the query log also
holds the columns a subject's query records show and filter on.

A subject's report lists the newest 100 entries about them. The log's rows are wide (the
released field names alone run to 2 KB for a full report), so reading 100 of them touched about
60 table pages, read afresh after every commit by another process (SQLite drops its page
cache then). With the shown columns in the index, SQLite answers from a handful of index pages
(a covering index); PostgreSQL uses it as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COVERING = [
    "subject_bidx",
    "seq",
    "decision",
    "tier",
    "at",
    "actor_kind",
    "actor_ref",
    "action",
    "purpose",
]


def upgrade() -> None:
    op.create_index("ix_query_log_query_records", "query_log", COVERING, unique=False)
    op.drop_index("ix_query_log_subject_bidx_seq", table_name="query_log")


def downgrade() -> None:
    op.create_index(
        "ix_query_log_subject_bidx_seq", "query_log", ["subject_bidx", "seq"], unique=False
    )
    op.drop_index("ix_query_log_query_records", table_name="query_log")
