"""The one encoding of a log entry: what every append stores is what it hashed, on both
engines, and PostgreSQL's append function (which encodes the sequence number itself, in SQL)
chains exactly as `crypto.hash_chain` does in Python — for any entry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.container import container
from app.models.query_log import CANONICAL_COLUMNS, OPTIONAL_FROM, QueryLogEntry
from app.services.querylog.entry import EntryEncoding, stored_fields
from app.services.querylog.log import QueryAttempt
from app.services.querylog.verify import verify_log
from crypto.hash_chain import canonical, chain_hash
from crypto.keys import SigningKey

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_ACTIONS = (
    "self:report:read",
    "institution:report:query",
    "public:list:search",
    "government:report:query",
)


@st.composite
def attempts(draw: st.DrawFn) -> QueryAttempt:
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2099, 12, 31),
            timezones=st.sampled_from([UTC, None]).map(lambda tz: tz or UTC),
        )
    )
    return QueryAttempt(
        action=draw(st.sampled_from(_ACTIONS)),
        decision=draw(st.sampled_from(("allowed", "denied", "failed"))),
        reason=draw(_TEXT),
        actor_kind=draw(st.sampled_from(("subject", "institution", "staff", "anonymous"))),
        actor_ref=draw(_TEXT),
        request_id=draw(_TEXT),
        client_address=draw(st.text(alphabet="0123456789abcdef.:", max_size=45)),
        subject_bidx=draw(st.none() | st.binary(min_size=32, max_size=32)),
        purpose=draw(st.none() | st.text(alphabet="abcdefghij_", min_size=0, max_size=32)),
        consent_jti=draw(st.none() | _TEXT),
        legal_basis=draw(st.none() | _TEXT),
        rule_ids=draw(st.lists(st.text(alphabet="abc-", min_size=1, max_size=8), max_size=3)),
        fields_released=draw(st.lists(_TEXT.filter(lambda s: "," not in s), max_size=4)),
        fee_fen=draw(st.integers(min_value=0, max_value=10**9)),
        at=moment,
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(attempts(), min_size=1, max_size=4))
def test_every_append_stores_what_it_hashed_on_both_engines(app: Flask, batch: Any) -> None:
    parts = container(app)
    log = parts.query_log()
    for attempt in batch:
        with parts.unit() as db:
            logged = log.append(db, attempt)
        with parts.snapshot() as db:
            row = db.execute(
                select(
                    *(QueryLogEntry.__table__.c[name] for name in CANONICAL_COLUMNS),
                    QueryLogEntry.prev_hash,
                    QueryLogEntry.entry_hash,
                ).where(QueryLogEntry.seq == logged.seq)
            ).one()
        fields = stored_fields(
            attempt, catalog_version=log.catalog_version, policy_version=log.policy_version
        )
        # what Python makes of the attempt itself, encoded the plain way (no remembering)
        expected = chain_hash(
            bytes(row.prev_hash),
            canonical([logged.seq, *fields.values()], optional_from=OPTIONAL_FROM),
        )
        assert bytes(row.entry_hash) == expected == logged.entry_hash
        # and of the row as stored: the verifier's view
        assert chain_hash(bytes(row.prev_hash), EntryEncoding().entry(row[:-2])) == expected
    with parts.snapshot() as db:
        report = verify_log(db, parts.key_provider.public_key_der(SigningKey.LOG_CHECKPOINT))
    assert report.problem is None


def test_the_encoding_is_length_prefixed_and_tells_none_from_empty() -> None:
    moment = datetime(2026, 12, 4, 8, 0, tzinfo=UTC) + timedelta(microseconds=5)
    assert canonical([None]) == b"\xff\xff\xff\xff"
    assert canonical([""]) == b"\x00\x00\x00\x00"
    assert canonical([12, "是", moment]) == (
        b"\x00\x00\x00\x0212"
        + b"\x00\x00\x00\x03" + "是".encode()
        + b"\x00\x00\x00\x20" + b"2026-12-04T08:00:00.000005+00:00"
    )  # fmt: skip
    assert hashlib.sha256(bytes(32) + canonical([1])).digest() == chain_hash(
        bytes(32), canonical([1])
    )


def test_an_entry_without_a_legal_basis_encodes_as_before_the_column_existed() -> None:
    """The optional tail: entries written before `legal_basis` existed keep their bytes, so
    their hashes (and every checkpoint over them) verify unchanged; an entry holding one ends
    with it, length-prefixed like every field."""
    moment = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    before = [7, moment, "institution", "inst-1", "institution", "institution:report:query"]
    before += [bytes(32), "loan_approval", "jti", "allowed", "ok", "r1", "B.loan.amount", 2500]
    before += ["c" * 64, "p" * 64, "req-1", "203.0.113.9"]
    assert len(before) == OPTIONAL_FROM == len(CANONICAL_COLUMNS) - 1
    encoding = EntryEncoding()
    assert encoding.entry([*before, None]) == canonical(before)
    basis = "government_procurement_law:渝财采〔2026〕15号"
    held = encoding.entry([*before, basis])
    assert held == canonical(before) + len(basis.encode()).to_bytes(4, "big") + basis.encode()
    assert canonical([None, None], optional_from=0) == b""
    assert canonical([None, "x"], optional_from=0) == b"\xff\xff\xff\xff\x00\x00\x00\x01x"
