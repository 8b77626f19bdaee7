"""The query log records a government query's legal basis (`query_log.legal_basis`).

The column is the canonical encoding's optional tail (`crypto.hash_chain`): it is encoded only
where an entry holds a value, so every entry written before this revision keeps its bytes and
its hash and the chain verifies unchanged. `query_log_append` (migration 0009) takes the new
column and stores it; the hash is still `sha256(prev ‖ <seq field> ‖ rest)`, with `rest` made
by the service (which now ends with the legal basis when there is one). The subject's covering
index gains the column (their query records show it), and a partial index over the government
tier's entries serves the compliance review's list of them.

Revision ID: 0110
Revises: 0090
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0110"
down_revision = "0090"
branch_labels = None
depends_on = None

_OLD_COVERING = [
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
_COVERING = "ix_query_log_query_records"
_GOVERNMENT = "ix_query_log_government"
_WHERE = sa.text("tier = 'government'")

_OLD_SIGNATURE = (
    "timestamptz, text, text, text, text, bytea, text, text, text, text, text, text, "
    "integer, text, text, text, text"
)

_CREATE = """
CREATE FUNCTION query_log_append(
    p_at timestamptz,
    p_actor_kind text,
    p_actor_ref text,
    p_tier text,
    p_action text,
    p_subject_bidx bytea,
    p_purpose text,
    p_consent_jti text,
    p_decision text,
    p_reason text,
    p_rule_ids text,
    p_fields_released text,
    p_fee_fen integer,
    p_catalog_version text,
    p_policy_version text,
    p_request_id text,
    p_client_address text,
    p_legal_basis text,
    p_rest bytea
) RETURNS TABLE (
    last_seq bigint,
    last_hash bytea,
    checkpoint_seq bigint,
    checkpoint_at timestamptz
)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    head query_log_head%ROWTYPE;
    next_seq bigint;
    next_hash bytea;
BEGIN
    SELECT * INTO STRICT head FROM query_log_head WHERE id = 1 FOR UPDATE;
    next_seq := head.last_seq + 1;
    next_hash := sha256(
        head.last_hash
        || int4send(octet_length(next_seq::text))
        || convert_to(next_seq::text, 'UTF8')
        || p_rest
    );
    INSERT INTO query_log (
        seq, at, actor_kind, actor_ref, tier, action, subject_bidx, purpose, consent_jti,
        decision, reason, rule_ids, fields_released, fee_fen, catalog_version,
        policy_version, request_id, client_address, legal_basis, prev_hash, entry_hash
    ) VALUES (
        next_seq, p_at, p_actor_kind, p_actor_ref, p_tier, p_action, p_subject_bidx,
        p_purpose, p_consent_jti, p_decision, p_reason, p_rule_ids, p_fields_released,
        p_fee_fen, p_catalog_version, p_policy_version, p_request_id, p_client_address,
        p_legal_basis, head.last_hash, next_hash
    );
    UPDATE query_log_head SET last_seq = next_seq, last_hash = next_hash WHERE id = 1;
    RETURN QUERY SELECT next_seq, next_hash, head.checkpoint_seq, head.checkpoint_at;
END
$$
"""

#: migration 0009's function, which the downgrade puts back
_PREVIOUS = (
    _CREATE.replace("    p_legal_basis text,\n", "")
    .replace("client_address, legal_basis, prev_hash", "client_address, prev_hash")
    .replace(
        "p_client_address,\n        p_legal_basis, head.last_hash",
        "p_client_address,\n        head.last_hash",
    )
)
assert "legal_basis" not in _PREVIOUS


def upgrade() -> None:
    op.add_column("query_log", sa.Column("legal_basis", sa.String(length=160), nullable=True))
    op.drop_index(_COVERING, table_name="query_log")
    op.create_index(_COVERING, "query_log", [*_OLD_COVERING, "legal_basis"], unique=False)
    op.create_index(
        _GOVERNMENT,
        "query_log",
        ["seq"],
        unique=False,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION query_log_append({_OLD_SIGNATURE}, bytea)")
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION query_log_append({_OLD_SIGNATURE}, text, bytea)")
        op.execute(_PREVIOUS)
    op.drop_index(_GOVERNMENT, table_name="query_log")
    op.drop_index(_COVERING, table_name="query_log")
    op.create_index(_COVERING, "query_log", _OLD_COVERING, unique=False)
    # SQLite (3.35+) and PostgreSQL both drop a column in place: no table copy, so the
    # append-only triggers on the log stay as they are
    op.execute("ALTER TABLE query_log DROP COLUMN legal_basis")
