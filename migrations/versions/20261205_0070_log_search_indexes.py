"""Indexes for the compliance officers' searches of the query log (ARCHITECTURE §10).

Each leads with what an officer searches by and ends with `seq`, the keyset of every page
(newest first), so a page of one actor's, one decision's or one action's entries reads a
page of the index at any size of the log: `(actor_ref, seq)`, `(decision, seq)`,
`(action, seq)`. A time range alone reads `at`; a consent id (only entries that name one)
and a request id find their few entries directly. The subject is searched through the
existing `ix_query_log_query_records`, which leads with the blind index.

Revision ID: 0070
Revises: 0040
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0070"
down_revision = "0040"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_query_log_actor_ref_seq": ["actor_ref", "seq"],
    "ix_query_log_decision_seq": ["decision", "seq"],
    "ix_query_log_action_seq": ["action", "seq"],
    "ix_query_log_at": ["at"],
    "ix_query_log_request_id": ["request_id"],
}
NAMES_A_CONSENT = sa.text("consent_jti IS NOT NULL")


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "query_log", columns, unique=False)
    op.create_index(
        "ix_query_log_consent_jti",
        "query_log",
        ["consent_jti"],
        unique=False,
        sqlite_where=NAMES_A_CONSENT,
        postgresql_where=NAMES_A_CONSENT,
    )


def downgrade() -> None:
    op.drop_index("ix_query_log_consent_jti", table_name="query_log")
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="query_log")
