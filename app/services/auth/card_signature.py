"""The card factor over a login challenge, shared by the card login and the staff card step-up.

Guarantees:
- `consume_challenge` burns a challenge with one conditional UPDATE (`used_at IS NULL AND
  expires_at > now`, rowcount must be 1), whatever else in the request fails, and hands back
  the SHA-256 digest of its bytes only if it was live and issued to `username`; otherwise the
  precise reason (never existed or issued to someone else: `BAD_CHALLENGE`; used before:
  `CHALLENGE_REPLAYED`; expired: `CHALLENGE_EXPIRED`);
- `card_by_signature` accepts a signature over that digest (ECDSA P-256 / SHA-256 as raw r||s
  or DER, or RSA PKCS#1 v1.5 / SHA-256) only under an *active* card enrolled for that account
  whose certificate `verify_card_certificate` accepts now. The account's card rows are
  share-locked (`FOR SHARE`): a concurrent revocation waits for the caller's transaction and
  then ends the session it made, and a revocation that committed first is seen;
- nothing here logs; no signature, nonce or certificate leaves this module except as a verdict.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Card, LoginChallenge
from app.services.auth.cards import CertificateRejected, verify_card_certificate
from app.services.auth.login_attempts import Reason
from crypto.keys import KeyProvider

RAW_ECDSA_BYTES = 64  # P-256 r||s, as CKM_ECDSA returns it
#: The verdicts given only when the signature (or the mTLS certificate) matched one of the
#: account's enrolled cards: whoever sent it holds that card.
SIGNED_BY_AN_ENROLLED_CARD = frozenset(
    {Reason.OK, Reason.CARD_REVOKED, Reason.CERT_EXPIRED, Reason.CERT_INVALID}
)
DER_ECDSA_BYTES = range(8, 73)  # an ECDSA-Sig-Value SEQUENCE for P-256


def consume_challenge(
    db: Session, challenge_id: str, username: str, now: datetime
) -> tuple[bytes | None, Reason | None]:
    """Burn the challenge; the digest of its bytes if it was live and for this username."""
    result = db.execute(
        update(LoginChallenge)
        .where(
            LoginChallenge.id == challenge_id,
            LoginChallenge.used_at.is_(None),
            LoginChallenge.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    consumed = int(getattr(result, "rowcount", 0) or 0) == 1
    row = db.scalars(
        select(LoginChallenge)
        .where(LoginChallenge.id == challenge_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        return None, Reason.BAD_CHALLENGE
    if not consumed:
        replayed = row.used_at is not None
        return None, Reason.CHALLENGE_REPLAYED if replayed else Reason.CHALLENGE_EXPIRED
    if row.username != username:
        return None, Reason.BAD_CHALLENGE  # issued to someone else: burnt all the same
    return row.to_be_signed, None


def card_by_signature(
    db: Session,
    provider: KeyProvider,
    account_id: uuid.UUID,
    digest: bytes,
    signature: bytes | None,
    now: datetime,
) -> tuple[uuid.UUID | None, Reason]:
    """The id of the account's card that made `signature` over `digest`, or why there is none."""
    if signature is None:
        return None, Reason.BAD_SIGNATURE
    # Share-locked: a concurrent revocation waits for this transaction to commit and then ends
    # the session it made; a revocation that committed first is seen here.
    cards = list(
        db.scalars(select(Card).where(Card.account_id == account_id).with_for_update(read=True))
    )
    if not cards:
        return None, Reason.NO_CARD
    matching = [card for card in cards if signed_by(card.certificate, digest, signature)]
    if not matching:
        return None, Reason.BAD_SIGNATURE
    # An active card wins; a signature that only a revoked card made is reported as such.
    matching.sort(key=lambda card: card.status != "active")
    return card_verdict(provider, matching[0], now)


def card_verdict(
    provider: KeyProvider, card: Card, now: datetime
) -> tuple[uuid.UUID | None, Reason]:
    """The card's id if it is active and its certificate is valid now, else why not."""
    if card.status != "active":
        return None, Reason.CARD_REVOKED
    try:
        verify_card_certificate(provider, card.certificate, now=now)
    except CertificateRejected as rejected:
        expired = rejected.reason == "expired"
        return None, Reason.CERT_EXPIRED if expired else Reason.CERT_INVALID
    return card.id, Reason.OK


def signed_by(certificate_der: bytes, digest: bytes, signature: bytes) -> bool:
    """True iff `signature` over the bytes whose SHA-256 is `digest` verifies under the
    certificate's public key (ECDSA P-256 or RSA PKCS#1 v1.5, both with SHA-256)."""
    try:
        public_key = x509.load_der_x509_certificate(certificate_der).public_key()
    except ValueError:
        return False
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            return False
        return any(_ecdsa_ok(public_key, digest, der) for der in _ecdsa_forms(signature))
    if isinstance(public_key, rsa.RSAPublicKey):
        try:
            public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True
    return False


def _ecdsa_forms(signature: bytes) -> list[bytes]:
    """DER encodings to try: raw r||s re-encoded, and the bytes themselves if they may be DER."""
    forms = []
    if len(signature) == RAW_ECDSA_BYTES:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        forms.append(encode_dss_signature(r, s))
    if signature[:1] == b"\x30" and len(signature) in DER_ECDSA_BYTES:
        forms.append(signature)
    return forms


def _ecdsa_ok(public_key: ec.EllipticCurvePublicKey, digest: bytes, der: bytes) -> bool:
    try:
        public_key.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True
