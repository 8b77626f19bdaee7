"""The report CA: the certificate chain of the key that signs PDF credit reports.

The platform's report CA is the HSM key `SigningKey.REPORT_CA`; it certifies the HSM key
`SigningKey.REPORT_SIGN`, which signs every issued PDF. Both certificates are kept in
`report_certificates`; this module only asks the key provider to sign, never sees a key.

Guarantees:
- the root is self-signed by the CA key: issuer = subject = `ROOT_NAME`, CA:true with path
  length 0 and keyCertSign/cRLSign (both critical), valid `ROOT_YEARS`; it is made once and
  never replaced by `certify` (a verifier's trust anchor must not move);
- a signer certificate is an end-entity certificate for the public key of `REPORT_SIGN`
  (checked against the HSM at issuance): CA:false, keyUsage digitalSignature and
  nonRepudiation (critical), subject/authority key identifiers, signed ecdsa-with-SHA256 by the
  CA key; `certify` issues a new one only when none stays valid `RENEW_BEFORE` from now;
- `signing_chain` returns the newest signer certificate valid at `now` with its root, or
  raises `SigningNotReady` (the caller answers 503: no unsigned PDF ever leaves);
- serials are random positive 128-bit numbers; nothing here is secret or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from asn1crypto import algos, keys  # type: ignore[import-untyped]
from asn1crypto import x509 as ax
from sqlalchemy import Connection, Table, insert, select

from app.models.base import as_utc
from app.models.reports import ReportCertificate
from app.services.health import NotReady
from crypto.keys import KeyProvider, SigningKey

ROOT_NAME = ax.Name.build(
    {
        "country_name": "CN",
        "organization_name": "CreditGate",
        "common_name": "CreditGate Report CA",
    }
)
SIGNER_NAME = ax.Name.build(
    {
        "country_name": "CN",
        "organization_name": "CreditGate",
        "common_name": "CreditGate Credit Report Signing",
    }
)
ROOT_YEARS = 20
SIGNER_DAYS = 5 * 365
RENEW_BEFORE = timedelta(days=365)
_TABLE = cast(Table, ReportCertificate.__table__)


class SigningNotReady(NotReady):
    """No report-signing certificate is valid now (run `flask reports certify`)."""


@dataclass(frozen=True)
class SigningChain:
    """The signer certificate and the root that issued it, DER."""

    signer: bytes
    root: bytes

    @property
    def signer_certificate(self) -> ax.Certificate:
        return ax.Certificate.load(self.signer)

    @property
    def root_certificate(self) -> ax.Certificate:
        return ax.Certificate.load(self.root)


@dataclass(frozen=True)
class Certified:
    """What `certify` did: the chain now in force, and whether it made the root/signer."""

    chain: SigningChain
    new_root: bool
    new_signer: bool


def _key_id(public_key_der: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING."""
    info = keys.PublicKeyInfo.load(public_key_der)
    return hashlib.sha1(bytes(info["public_key"].contents[1:]), usedforsecurity=False).digest()


def _time(moment: datetime) -> ax.Time:
    name = "utc_time" if 1950 <= moment.year < 2050 else "general_time"
    return ax.Time(name=name, value=moment)


def _certificate(
    provider: KeyProvider,
    *,
    subject: ax.Name,
    public_key_der: bytes,
    not_before: datetime,
    not_after: datetime,
    extensions: list[dict[str, object]],
) -> bytes:
    ca_key_id = _key_id(provider.public_key_der(SigningKey.REPORT_CA))
    tbs = ax.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(127) | (1 << 126),
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": ROOT_NAME,
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
    raw = provider.sign(SigningKey.REPORT_CA, bytes(tbs.dump()))
    cert = ax.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": algos.DSASignature.from_p1363(raw).dump(),
        }
    )
    return bytes(cert.dump())


def root_certificate(provider: KeyProvider, *, now: datetime) -> bytes:
    """A new self-signed root over the CA key in the HSM (DER)."""
    start = now.astimezone(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return _certificate(
        provider,
        subject=ROOT_NAME,
        public_key_der=provider.public_key_der(SigningKey.REPORT_CA),
        not_before=start,
        not_after=start.replace(year=start.year + ROOT_YEARS),
        extensions=[
            {
                "extn_id": "basic_constraints",
                "critical": True,
                "extn_value": {"ca": True, "path_len_constraint": 0},
            },
            {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
        ],
    )


def signer_certificate(provider: KeyProvider, *, now: datetime) -> bytes:
    """A new end-entity certificate for the report-signing key in the HSM (DER)."""
    start = now.astimezone(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return _certificate(
        provider,
        subject=SIGNER_NAME,
        public_key_der=provider.public_key_der(SigningKey.REPORT_SIGN),
        not_before=start,
        not_after=start + timedelta(days=SIGNER_DAYS),
        extensions=[
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
            {
                "extn_id": "key_usage",
                "critical": True,
                "extn_value": {"digital_signature", "non_repudiation"},
            },
        ],
    )


def _store(connection: Connection, der: bytes, role: str, now: datetime) -> None:
    tbs = ax.Certificate.load(der)["tbs_certificate"]
    validity = tbs["validity"]
    connection.execute(
        insert(_TABLE).values(
            serial=format(tbs["serial_number"].native, "x"),
            role=role,
            der=der,
            not_before=validity["not_before"].native,
            not_after=validity["not_after"].native,
            created_at=now,
        )
    )


def _newest(connection: Connection, role: str, valid_at: datetime) -> bytes | None:
    query = (
        select(_TABLE.c.der, _TABLE.c.not_before)
        .where(_TABLE.c.role == role, _TABLE.c.not_after > valid_at)
        .order_by(_TABLE.c.not_after.desc())
    )
    for der, not_before in connection.execute(query):
        if as_utc(not_before) <= valid_at:
            return bytes(der)
    return None


def _the_root(connection: Connection) -> bytes | None:
    query = select(_TABLE.c.der).where(_TABLE.c.role == "root").order_by(_TABLE.c.created_at)
    found = connection.execute(query).first()
    return None if found is None else bytes(found[0])


def certify(connection: Connection, provider: KeyProvider, *, now: datetime) -> Certified:
    """Make the root if there is none and a signer certificate if none stays valid for
    `RENEW_BEFORE`, in the caller's unit of work (idempotent)."""
    moment = now.astimezone(UTC)
    root = _the_root(connection)
    new_root = root is None
    if root is None:
        root = root_certificate(provider, now=moment)
        _store(connection, root, "root", moment)
    signer = _newest(connection, "signer", moment + RENEW_BEFORE)
    new_signer = signer is None
    if signer is None:
        signer = signer_certificate(provider, now=moment)
        _store(connection, signer, "signer", moment)
    return Certified(SigningChain(signer, root), new_root, new_signer)


def signing_chain(connection: Connection, *, now: datetime) -> SigningChain:
    """The newest signer certificate valid at `now` and the root; `SigningNotReady` if none."""
    moment = now.astimezone(UTC)
    signer = _newest(connection, "signer", moment)
    root = _the_root(connection)
    if signer is None or root is None:
        raise SigningNotReady(
            "no report-signing certificate is valid now: run `flask reports certify`"
        )
    return SigningChain(signer, root)


def the_root(connection: Connection) -> bytes:
    """The report CA's root certificate (DER): the trust anchor a verifier needs."""
    root = _the_root(connection)
    if root is None:
        raise SigningNotReady("the report CA has no certificate yet: run `flask reports certify`")
    return root
