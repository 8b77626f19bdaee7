"""Smart-card certificates: issuance by the platform card CA, verification, enrolment, revocation.

The card CA's private key is `SigningKey.CARD_CA` in the service HSM; this module only asks the
key provider to sign. The card key itself never comes here, only its public key.

Guarantees:
- `issue_certificate` certifies only an ECDSA P-256 public key from `RSA_2048_CUTOFF` on
  (RSA-2048 before it: those cards stay valid until their certificates expire), as an X.509 v3
  end-entity certificate: issuer `CA_NAME`, subject CN=<username>, a random positive 128-bit
  serial, validity from one minute ago for `days`, basicConstraints CA:false (critical),
  keyUsage digitalSignature (critical), extendedKeyUsage clientAuth, subject and authority key
  identifiers, signed ecdsa-with-SHA256 by the CA key in the HSM.
- `verify_card_certificate` accepts a certificate only if all of these hold, and otherwise
  raises `CertificateRejected` naming the first failure, checked in this order: it parses as
  one DER X.509 v3 certificate ('malformed'); its issuer is `CA_NAME` and its signature
  verifies under the CA key in the HSM ('not_ours'); `now` is inside its validity
  ('not_yet_valid', 'expired'); it is an end-entity, digitalSignature, clientAuth certificate
  for a P-256 or RSA-2048 key ('wrong_usage').
- `enrol` stores only a certificate that verifies now and names the account's username;
  `revoke` marks the card revoked (from then on no login accepts it: logins check the status)
  and ends every session of its account, in the caller's transaction.
- Nothing here logs a PIN, a password or a session id; revocations are logged by thumbprint.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, keys  # type: ignore[import-untyped]
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, Card
from app.models.base import as_utc, utcnow
from app.services.auth.sessions import SessionService
from crypto.keys import KeyProvider, SigningKey

log = logging.getLogger("creditgate.cards")

#: The distinguished name of the platform's card-issuing CA (issuer of every card certificate).
CA_NAME = ax.Name.build(
    {"country_name": "CN", "organization_name": "CreditGate", "common_name": "CreditGate Card CA"}
)
CA_NAME_DER: bytes = bytes(CA_NAME.dump())
DEFAULT_CARD_DAYS = 3 * 365
MAX_CERTIFICATE_BYTES = 16 * 1024
#: Why a card was revoked; the closed list `flask cards revoke --reason` offers.
REVOCATION_REASONS = ("holder_request", "lost", "stolen", "compromised", "superseded", "other")
REJECTION_REASONS = ("not_ours", "expired", "not_yet_valid", "malformed", "wrong_usage")


class CertificateRejected(Exception):
    """The certificate is not an acceptable card certificate; `reason` is one of
    `REJECTION_REASONS`. The message never contains the certificate."""

    def __init__(self, reason: str) -> None:
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"card certificate rejected: {reason}")
        self.reason = reason


class UnsupportedKey(ValueError):
    """A public key that cards may not carry (only ECDSA P-256 and RSA-2048)."""


class EnrolmentError(Exception):
    """The certificate cannot be enrolled for this account (message says why)."""


class CardNotFound(LookupError):
    """No enrolled card has that id or thumbprint."""


@dataclass(frozen=True)
class CardCertificate:
    """A verified card certificate and what the service keeps of it."""

    der: bytes
    thumbprint: str  # SHA-256 of the DER, lowercase hex
    serial: str  # lowercase hex
    key_type: str  # 'ec-p256' | 'rsa-2048'
    username: str  # the subject CN
    not_before: datetime
    not_after: datetime
    public_key_der: bytes  # SubjectPublicKeyInfo


@dataclass(frozen=True)
class Revocation:
    card: Card
    newly_revoked: bool
    sessions_ended: int


# ---------------------------------------------------------------------------------- issuing


#: From this moment new card certificates are issued only for ECDSA P-256 keys (ASVS 5.0
#: 11.2/11.6: no new RSA-2048/PKCS#1 v1.5 enrolments). Cards certified before it keep working
#: (login, consent tokens) until their certificates expire; docs/keys.md.
RSA_2048_CUTOFF = datetime(2026, 12, 5, tzinfo=UTC)


def new_card_key_types(now: datetime) -> tuple[str, ...]:
    """The key types a card may be newly certified for at `now`."""
    return ("ec-p256",) if as_utc(now) >= RSA_2048_CUTOFF else ("ec-p256", "rsa-2048")


def check_new_card_key(public_key_der: bytes, *, now: datetime) -> str:
    """The key type of a key to be newly certified at `now`; `UnsupportedKey` for a key no
    new card may carry (anything but P-256 from the cut-off on)."""
    key_type = key_type_of(public_key_der)
    if key_type not in new_card_key_types(now):
        raise UnsupportedKey(
            "new cards carry ECDSA P-256 keys; RSA-2048 is kept only for cards enrolled "
            f"before {RSA_2048_CUTOFF.date().isoformat()}"
        )
    return key_type


def key_type_of(public_key_der: bytes) -> str:
    """'ec-p256' or 'rsa-2048' for a DER SubjectPublicKeyInfo; `UnsupportedKey` otherwise."""
    try:
        key = load_der_public_key(bytes(public_key_der))
    except (ValueError, TypeError):
        raise UnsupportedKey("not a DER SubjectPublicKeyInfo") from None
    return _key_type(key)


def _key_type(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ec-p256"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048:
        return "rsa-2048"
    raise UnsupportedKey("a card key must be ECDSA P-256 or RSA-2048")


def _key_id(public_key_der: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING."""
    info = keys.PublicKeyInfo.load(public_key_der)
    return hashlib.sha1(bytes(info["public_key"].contents[1:]), usedforsecurity=False).digest()


def _time(moment: datetime) -> ax.Time:
    name = "utc_time" if 1950 <= moment.year < 2050 else "general_time"
    return ax.Time(name=name, value=moment)


def _sign(provider: KeyProvider, tbs: ax.TbsCertificate) -> bytes:
    raw = provider.sign(SigningKey.CARD_CA, bytes(tbs.dump()))
    cert = ax.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": algos.DSASignature.from_p1363(raw).dump(),
        }
    )
    return bytes(cert.dump())


def _tbs(
    provider: KeyProvider,
    subject: ax.Name,
    public_key_der: bytes,
    not_before: datetime,
    not_after: datetime,
    extensions: list[dict[str, object]],
) -> ax.TbsCertificate:
    ca_key_id = _key_id(provider.public_key_der(SigningKey.CARD_CA))
    return ax.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(127) | (1 << 127),
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": CA_NAME,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(public_key_der),
            "extensions": [
                *extensions,
                {"extn_id": "key_identifier", "extn_value": _key_id(public_key_der)},
                {
                    "extn_id": "authority_key_identifier",
                    "extn_value": {"key_identifier": ca_key_id},
                },
            ],
        }
    )


def issue_certificate(
    provider: KeyProvider,
    username: str,
    public_key_der: bytes,
    *,
    days: int = DEFAULT_CARD_DAYS,
    now: datetime | None = None,
) -> bytes:
    """A DER card certificate for `username`'s card key, signed by the card CA in the HSM."""
    if not username or len(username) > 64:
        raise ValueError("a username is 1-64 characters")
    if not 1 <= days <= 10 * 366:
        raise ValueError("a card certificate is valid for 1 day to 10 years")
    spki = bytes(public_key_der)
    moment = now or utcnow()
    check_new_card_key(spki, now=moment)
    start = moment.astimezone(UTC).replace(microsecond=0) - timedelta(minutes=1)
    tbs = _tbs(
        provider,
        ax.Name.build({"common_name": username}),
        spki,
        start,
        start + timedelta(minutes=1, days=days),
        [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
            {"extn_id": "key_usage", "critical": True, "extn_value": {"digital_signature"}},
            {"extn_id": "extended_key_usage", "extn_value": ["client_auth"]},
        ],
    )
    return _sign(provider, tbs)


def ca_certificate(provider: KeyProvider, *, years: int = 10, now: datetime | None = None) -> bytes:
    """A self-signed DER certificate of the card CA (CA:true, keyCertSign), e.g. for nginx's
    ``ssl_client_certificate``. Each call signs a new one over the same key and name."""
    start = (now or utcnow()).astimezone(UTC).replace(microsecond=0) - timedelta(minutes=1)
    tbs = _tbs(
        provider,
        CA_NAME,
        provider.public_key_der(SigningKey.CARD_CA),
        start,
        start.replace(year=start.year + years),
        [
            {
                "extn_id": "basic_constraints",
                "critical": True,
                "extn_value": {"ca": True, "path_len_constraint": 0},
            },
            {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
        ],
    )
    return _sign(provider, tbs)


# ---------------------------------------------------------------------------------- verifying


def verify_card_certificate(provider: KeyProvider, der: bytes, *, now: datetime) -> CardCertificate:
    """The certificate as a `CardCertificate` if it is a valid card certificate of ours at
    `now`; `CertificateRejected(reason)` otherwise (see the module guarantees for the order)."""
    blob = bytes(der)
    if not blob or len(blob) > MAX_CERTIFICATE_BYTES:
        raise CertificateRejected("malformed")
    try:
        cert = x509.load_der_x509_certificate(blob)
        extensions = cert.extensions
        public_key = cert.public_key()
        issuer = cert.issuer.public_bytes()
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise CertificateRejected("malformed") from None
    if cert.version is not x509.Version.v3 or len(names) != 1:
        raise CertificateRejected("malformed")
    if issuer != CA_NAME_DER or cert.signature_algorithm_oid != (
        SignatureAlgorithmOID.ECDSA_WITH_SHA256
    ):
        raise CertificateRejected("not_ours")
    ca_key = load_der_public_key(provider.public_key_der(SigningKey.CARD_CA))
    if not isinstance(ca_key, ec.EllipticCurvePublicKey):
        raise CertificateRejected("not_ours")
    try:
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CertificateRejected("not_ours") from None
    moment = now.astimezone(UTC)
    if moment < cert.not_valid_before_utc:
        raise CertificateRejected("not_yet_valid")
    if moment > cert.not_valid_after_utc:
        raise CertificateRejected("expired")
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        key_type = _key_type(public_key)
    except (x509.ExtensionNotFound, UnsupportedKey):
        raise CertificateRejected("wrong_usage") from None
    if (
        constraints.ca
        or not usage.digital_signature
        or ExtendedKeyUsageOID.CLIENT_AUTH not in purposes
    ):
        raise CertificateRejected("wrong_usage")
    username = names[0].value
    return CardCertificate(
        der=blob,
        thumbprint=hashlib.sha256(blob).hexdigest(),
        serial=format(cert.serial_number, "x"),
        key_type=key_type,
        username=username if isinstance(username, str) else username.decode("utf-8", "replace"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key_der=public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
    )


# ---------------------------------------------------------------------------------- records


def enrol(
    db: Session,
    account: Account,
    der: bytes,
    *,
    provider: KeyProvider,
    now: datetime | None = None,
) -> Card:
    """Enrol a card certificate for `account` (active subject or staff, CN = its username).

    `CertificateRejected` if it is not a valid card certificate of ours; `EnrolmentError` if it
    names another user, the account cannot hold cards, or the certificate is enrolled already.
    """
    verified = verify_card_certificate(provider, der, now=now or utcnow())
    if account.kind not in ("subject", "staff") or account.status != "active":
        raise EnrolmentError(f"account {account.username!r} cannot hold a card")
    if verified.username != account.username:
        raise EnrolmentError(f"the certificate is not for {account.username!r}")
    if (
        card_by_thumbprint(db, verified.thumbprint) is not None
        or db.scalars(select(Card.id).where(Card.serial == verified.serial)).first()
    ):
        raise EnrolmentError("this certificate is enrolled already")
    card = Card(
        account_id=account.id,
        thumbprint=verified.thumbprint,
        serial=verified.serial,
        key_type=verified.key_type,
        not_before=verified.not_before,
        not_after=verified.not_after,
        certificate=verified.der,
        status="active",
    )
    db.add(card)
    db.flush()
    return card


def card_by_thumbprint(db: Session, thumbprint: str) -> Card | None:
    return db.scalars(select(Card).where(Card.thumbprint == thumbprint.lower())).one_or_none()


def cards_for_account(db: Session, account_id: uuid.UUID) -> list[Card]:
    """Every card ever enrolled for the account, oldest first (revoked ones included)."""
    query = select(Card).where(Card.account_id == account_id).order_by(Card.created_at, Card.id)
    return list(db.scalars(query))


def active_cards(db: Session, account_id: uuid.UUID, *, now: datetime | None = None) -> list[Card]:
    """The account's cards that are not revoked and inside their validity at `now`."""
    moment = (now or utcnow()).astimezone(UTC)
    return [
        card
        for card in cards_for_account(db, account_id)
        if card.status == "active" and as_utc(card.not_before) <= moment <= as_utc(card.not_after)
    ]


def revoke(
    db: Session, card: uuid.UUID | str, reason: str, *, now: datetime | None = None
) -> Revocation:
    """Revoke the card (by id or SHA-256 thumbprint) and end every session of its account.

    Idempotent: revoking a revoked card changes nothing but still ends any session left.
    `CardNotFound` if there is no such card; `ValueError` for a reason not in the list.
    """
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"reason must be one of {', '.join(REVOCATION_REASONS)}")
    row = db.get(Card, card) if isinstance(card, uuid.UUID) else card_by_thumbprint(db, card)
    if row is None:
        raise CardNotFound("no enrolled card has that id or thumbprint")
    db.refresh(row, with_for_update=True)  # waits for logins holding the card (share lock)
    newly = row.status != "revoked"
    if newly:
        row.status = "revoked"
        row.revoked_at = now or utcnow()
        db.flush()
    # A lost or stolen card may have been used alongside other factors: the issue's rule is that
    # revoking a card ends every session of its account at once, not only the card's own.
    ended = SessionService().end_all_for_account(db, row.account_id, "card_revoked")
    log.info("card %s revoked (%s); %d live session(s) ended", row.thumbprint, reason, ended)
    return Revocation(card=row, newly_revoked=newly, sessions_ended=ended)
