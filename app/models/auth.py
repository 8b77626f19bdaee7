"""Login state: cards, challenges, sessions, TOTP, login attempts, institutions, tokens.

Nothing secret is stored in a form that works if stolen: session ids and access tokens are
stored as SHA-256 hashes, TOTP secrets are sealed, passwords are argon2id hashes, usernames in
the attempt log are HMAC keys (a password typed into the username field is not kept).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    Uuid,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt
from app.models.ids import uuid7
from app.models.sealed import Sealed, SealedColumns
from crypto.envelope import Envelope


class Card(CreatedAt, Base):
    """A smart card's certificate enrolled for an account (the private key stays on the card)."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("key_type IN ('ec-p256', 'rsa-2048')", name="key_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER, hex
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # hex
    key_type: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)  # DER
    status: Mapped[str] = mapped_column(String(16), default="active")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginChallenge(CreatedAt, Base):
    """A single-use challenge for the card login, bound to one username, short-lived."""

    __tablename__ = "login_challenges"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the bytes to sign: the nonce itself is never stored (nor logged with rows).
    to_be_signed: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthSession(CreatedAt, Base):
    """A server-side login session; the browser holds only the random id, stored here hashed."""

    __tablename__ = "auth_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    methods: Mapped[str] = mapped_column(String(64))  # e.g. "password+card"
    card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cards.id"), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_seconds: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    csrf_token: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))


class TotpCredential(SealedColumns, CreatedAt, Base):
    """A staff member's TOTP secret, sealed like any record payload."""

    __tablename__ = "totp_credentials"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), unique=True)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"))
    secret: Mapped[Envelope] = mapped_column(Sealed)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TotpUsedStep(CreatedAt, Base):
    """A TOTP time step already accepted for an account: the primary key refuses it again."""

    __tablename__ = "totp_used_steps"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class LoginAttempt(Base):
    """Every login attempt: who (as an HMAC of the username), how, outcome, from where.

    Never holds a password, PIN, OTP, signature or session id.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'failure', 'throttled')", name="outcome"),
        Index("ix_login_attempts_username_key_at", "username_key", "at"),
        Index("ix_login_attempts_client_address_at", "client_address", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    client_address: Mapped[str] = mapped_column(String(45))
    #: False for a failure that must not lock the account out: a card login whose signature
    #: did not verify (anyone can send one). It still counts against the client address.
    counts_for_account: Mapped[bool] = mapped_column(Boolean, server_default=true())


class Institution(CreatedAt, Base):
    """A bank, employer or landlord that queries under consent; authenticates with a key pair."""

    __tablename__ = "institutions"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(400))  # space-separated, RFC 6749 style
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: Set while a review case's outcome suspends the institution (the seeds' blacklist): its
    #: tokens stop working and no new one is issued until a reviewed case lifts it.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_by_case: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class AccessToken(CreatedAt, Base):
    """An OAuth access token, stored as its SHA-256 hash; lives at most 10 minutes."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    institution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("institutions.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(400))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClientAssertionUse(Base):
    """A `private_key_jwt` client assertion's jti, remembered until it expires (no replay)."""

    __tablename__ = "client_assertion_uses"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
