"""PostgreSQL: the query-log append as one SQL function, one round trip per entry.

`query_log_append(<the entry's fields after seq>, rest)` locks the head row, numbers the entry,
chains it (`sha256(prev_hash ‖ <seq field> ‖ rest)`, where `rest` is the canonical encoding
of the other fields made by the service, `crypto.hash_chain`), inserts it, moves the head and
returns the head as it was moved, with the last checkpoint, for the caller to sign one when
due. The only field it encodes itself is the sequence number, as `crypto.hash_chain` does: a
4-byte big-endian length and the decimal digits (a property test holds the two together).
It runs with the caller's rights (SECURITY INVOKER): the application role's INSERT on the log
and UPDATE on the head are all it needs. SQLite appends with three statements inside its
unit's write lock and has no such function.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

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
        policy_version, request_id, client_address, prev_hash, entry_hash
    ) VALUES (
        next_seq, p_at, p_actor_kind, p_actor_ref, p_tier, p_action, p_subject_bidx,
        p_purpose, p_consent_jti, p_decision, p_reason, p_rule_ids, p_fields_released,
        p_fee_fen, p_catalog_version, p_policy_version, p_request_id, p_client_address,
        head.last_hash, next_hash
    );
    UPDATE query_log_head SET last_seq = next_seq, last_hash = next_hash WHERE id = 1;
    RETURN QUERY SELECT next_seq, next_hash, head.checkpoint_seq, head.checkpoint_at;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION query_log_append(timestamptz, text, text, text, text, bytea, text, "
            "text, text, text, text, text, integer, text, text, text, text, bytea)"
        )
