"""A registrar enrols a subject by ID number, issues their card, and replaces a lost one.

Guarantees:
- every step writes one query-log entry (`app.services.enrolment.steps`) in the unit of work
  that makes the change; a refused step writes a `denied` entry and changes nothing else;
- an ID number is accepted only if it passes the format check (`parse_citizen_id`: region,
  birth date, check character) and then the plausibility rule for a living person
  (`check_living_birth_date`), each refused with its own code; it is stored only sealed (the
  subject's identity) and found only by its HMAC blind index (one HMAC per step);
- a subject already held (e.g. from department intake) is enrolled only under the name on
  record (compared after NFKC, whitespace and middle-dot folding), so a mistyped ID number
  cannot attach an account to someone else's records; a subject holds at most one account;
- the initial password meets the password policy and is stored only as its argon2id hash;
- a card is issued only for an active subject account with no active card (`replace_card`
  revokes the old ones, with the reason given, and ends every session of the account in the
  same unit); the certificate is issued by the card CA in the HSM for the card's own public
  key (the private key never leaves the card) and enrolled before the unit commits; an
  optional `store` callback (the CLI writes the certificate onto the card) runs inside the
  unit, so a card that could not take its certificate is not left enrolled;
- messages are safe to show: they name the rule, never a value typed in.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, AccountKind, Subject
from app.models.ids import uuid7
from app.services.auth.accounts import AccountError, login_username, valid_username
from app.services.auth.cards import (
    DEFAULT_CARD_DAYS,
    CertificateRejected,
    EnrolmentError,
    UnsupportedKey,
    active_cards,
    check_new_card_key,
    enrol,
    issue_certificate,
    key_type_of,
    revoke,
)
from app.services.auth.password_policy import PasswordRejected, check_password
from app.services.auth.passwords import PasswordHashing
from app.services.enrolment.steps import Actor, StepOutcome, log_step
from app.services.keys.lifecycle import KeyService
from app.services.lists.public_lists import normalise_person_name
from app.services.querylog.log import QueryLog
from crypto.blind_index import BlindIndexKind, blind_index
from crypto.fields import canonical_json
from crypto.keys import WrappingKey
from policies.actions import Action
from policies.identifiers import (
    ImplausibleIdentifier,
    InvalidIdentifier,
    check_living_birth_date,
    parse_citizen_id,
)

MAX_NAME_LENGTH = 100
#: Reasons a registrar may give for replacing a card (a subset of the revocation reasons).
REPLACEMENT_REASONS = ("lost", "stolen", "compromised", "superseded", "other")


@dataclass(frozen=True)
class Enrolled(StepOutcome):
    subject_id: uuid.UUID | None = None
    username: str = ""
    new_subject: bool = False  # False: the subject was held already (e.g. from intake)


@dataclass(frozen=True)
class IssuedCard(StepOutcome):
    thumbprint: str = ""
    serial: str = ""
    not_after: datetime | None = None
    certificate_pem: str = ""
    cards_revoked: int = 0
    sessions_ended: int = 0


def public_key_der(pem: str) -> bytes:
    """The DER SubjectPublicKeyInfo of a card's PEM public key; `UnsupportedKey` for anything
    else (a private key, a certificate, another kind of key), never echoing the text."""
    try:
        key = load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise UnsupportedKey("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    key_type_of(der)
    return der


def clean_name(raw: str) -> str | None:
    """A person's name as typed, trimmed, 1-100 printable characters; None otherwise."""
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        return None
    return name


@dataclass
class RegistrarService:
    keys: KeyService
    log: QueryLog
    passwords: PasswordHashing

    # --- enrolment -------------------------------------------------------------------------

    def enrol(
        self,
        db: Session,
        actor: Actor,
        *,
        id_number: str,
        name: str,
        username: str,
        password: str,
        today: date,
        now: datetime,
    ) -> Enrolled:
        """Enrol the person with this ID number under `username` (see the module guarantees)."""
        action = Action.REGISTRY_SUBJECT_ENROL.value

        def refuse(code: str, message: str, bidx: bytes | None = None) -> Enrolled:
            log_step(db, self.log, actor, action, refused=code, subject_bidx=bidx, at=now)
            return Enrolled(code, message)

        try:
            citizen = parse_citizen_id(id_number)
        except InvalidIdentifier as exc:
            return refuse("bad_id_number", f"The ID number is not valid: {exc}")
        try:
            normalised = check_living_birth_date(citizen, today=today).value
        except ImplausibleIdentifier as exc:
            return refuse("implausible_id_number", f"The ID number is refused: {exc}")
        person = clean_name(name)
        if person is None:
            return refuse("bad_name", f"The name must have 1 to {MAX_NAME_LENGTH} characters.")
        try:
            login = valid_username(username)
        except AccountError as exc:
            return refuse("bad_username", str(exc))
        try:
            check_password(password, username=login)
        except PasswordRejected as exc:
            return refuse("password_refused", str(exc))
        bidx = blind_index(self.keys.provider, BlindIndexKind.CITIZEN_ID, normalised)
        subject = db.scalars(select(Subject).where(Subject.id_bidx == bidx)).one_or_none()
        if subject is not None:
            held = subject.unseal("identity", self.keys.cipher)
            if normalise_person_name(str(held.get("name", ""))) != normalise_person_name(person):
                return refuse(
                    "name_mismatch",
                    "The name does not match the one on record for this ID number; check "
                    "both against the identity document.",
                    bidx,
                )
            taken = db.scalar(select(Account.id).where(Account.subject_id == subject.id))
            if taken is not None:
                return refuse("already_enrolled", "This person already has an account.", bidx)
        if db.scalar(select(Account.id).where(Account.username == login)) is not None:
            return refuse("username_taken", f"The username {login!r} is taken.", bidx)
        new_subject = subject is None
        if subject is None:
            subject = self._new_subject(db, bidx, {"id_number": normalised, "name": person})
        db.add(
            Account(
                username=login,
                kind=AccountKind.SUBJECT.value,
                status="active",
                subject_id=subject.id,
                password_hash=self.passwords.hash(password),
            )
        )
        db.flush()
        log_step(db, self.log, actor, action, refused=None, subject_bidx=bidx, at=now)
        return Enrolled(subject_id=subject.id, username=login, new_subject=new_subject)

    def _new_subject(self, db: Session, bidx: bytes, identity: dict[str, str]) -> Subject:
        key_id = self.keys.active_key_id(db, WrappingKey.MASTER.value)
        subject = Subject(id=uuid7(), id_bidx=bidx, data_key_id=key_id)
        subject.identity = self.keys.cipher.seal(
            Subject.context_for(subject.id, "identity"), canonical_json(identity), key_id
        )
        db.add(subject)
        db.flush()
        return subject

    # --- cards ------------------------------------------------------------------------------

    def issue_card(
        self,
        db: Session,
        actor: Actor,
        *,
        username: str,
        public_key_der: bytes,
        now: datetime,
        days: int = DEFAULT_CARD_DAYS,
        store: Callable[[bytes], None] | None = None,
    ) -> IssuedCard:
        """Certify the card key of `username`'s first (or next, after revocation) card."""
        return self._issue(
            db,
            actor,
            Action.REGISTRY_CARD_ISSUE.value,
            username=username,
            public_key_der=public_key_der,
            now=now,
            days=days,
            store=store,
            replace_reason=None,
        )

    def replace_card(
        self,
        db: Session,
        actor: Actor,
        *,
        username: str,
        public_key_der: bytes,
        reason: str,
        now: datetime,
        days: int = DEFAULT_CARD_DAYS,
        store: Callable[[bytes], None] | None = None,
    ) -> IssuedCard:
        """Revoke every active card of `username` (`reason`) and issue the new one, at once."""
        if reason not in REPLACEMENT_REASONS:
            raise ValueError(f"reason must be one of {', '.join(REPLACEMENT_REASONS)}")
        return self._issue(
            db,
            actor,
            Action.REGISTRY_CARD_REPLACE.value,
            username=username,
            public_key_der=public_key_der,
            now=now,
            days=days,
            store=store,
            replace_reason=reason,
        )

    def _issue(
        self,
        db: Session,
        actor: Actor,
        action: str,
        *,
        username: str,
        public_key_der: bytes,
        now: datetime,
        days: int,
        store: Callable[[bytes], None] | None,
        replace_reason: str | None,
    ) -> IssuedCard:
        login = login_username(username)
        account = (
            None
            if login is None
            else db.scalars(select(Account).where(Account.username == login)).one_or_none()
        )
        bidx = self._subject_bidx(db, account)

        def refuse(code: str, message: str) -> IssuedCard:
            log_step(db, self.log, actor, action, refused=code, subject_bidx=bidx, at=now)
            return IssuedCard(code, message)

        if account is None or account.kind != AccountKind.SUBJECT.value:
            return refuse("no_such_subject", "No subject account has this username.")
        if account.status != "active":
            return refuse("account_disabled", "This account is disabled.")
        try:
            check_new_card_key(public_key_der, now=now)
        except UnsupportedKey as exc:
            return refuse("bad_public_key", f"The card's public key is refused: {exc}.")
        live = active_cards(db, account.id, now=now)
        if live and replace_reason is None:
            return refuse(
                "has_active_card",
                "This subject already holds an active card; replace it instead.",
            )
        revoked = ended = 0
        if replace_reason is not None:
            for card in live:
                done = revoke(db, card.id, replace_reason, now=now)
                revoked += int(done.newly_revoked)
                ended += done.sessions_ended
        der = issue_certificate(self.keys.provider, account.username, public_key_der, days=days)
        try:
            card = enrol(db, account, der, provider=self.keys.provider, now=now)
        except (CertificateRejected, EnrolmentError) as exc:  # a fresh certificate: cannot be
            raise RuntimeError(f"a certificate just issued was refused: {exc}") from None
        if store is not None:
            store(der)
        log_step(db, self.log, actor, action, refused=None, subject_bidx=bidx, at=now)
        pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
        return IssuedCard(
            thumbprint=card.thumbprint,
            serial=card.serial,
            not_after=card.not_after,
            certificate_pem=pem,
            cards_revoked=revoked,
            sessions_ended=ended,
        )

    @staticmethod
    def _subject_bidx(db: Session, account: Account | None) -> bytes | None:
        if account is None or account.subject_id is None:
            return None
        return db.scalar(select(Subject.id_bidx).where(Subject.id == account.subject_id))
