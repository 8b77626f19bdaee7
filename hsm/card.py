"""Smart cards on PKCS#11: the only place a card token is touched (issuance and signing).

A card is a PKCS#11 token of its own (in development: one SoftHSM2 token per card, in the same
token directory as the service token). `CardToken` names it by module path and token label.

Guarantees:

- The card key is generated on the card and never leaves it: the private half is CKA_TOKEN,
  CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, not modifiable or copyable, and may only
  SIGN (no decrypt, unwrap or derive). ECDSA P-256 by default, RSA-2048 on request. The key pair
  and the certificate share CKA_ID `CARD_KEY_ID` (``pkcs11-tool --id 01``); the public key and
  the certificate are public objects, readable without the PIN.
- A card that already holds a key is never given a second one (`CardNotBlank`), and a
  certificate is stored only if it certifies the key on the card (`CardMismatch`).
- Signing: ECDSA hashes with SHA-256 on the host, then ``CKM_ECDSA`` on the card (SoftHSM2 2.6
  has no ``CKM_ECDSA_SHA256``) and returns raw r||s (64 bytes); RSA uses
  ``CKM_SHA256_RSA_PKCS`` (PKCS#1 v1.5, 256 bytes).
- Every PKCS#11 call runs under the process-wide `hsm.lock.HSM_LOCK`; the module is loaded by
  the same per-process loader as the service provider (`hsm.session.load_library`). With an
  `init_lock_path`, each card operation also holds that cross-process file lock. A card session
  lives for one operation: opened, logged in, used, logged out and closed under the lock.
- A token created after the module was loaded is found by re-initialising the module, unless
  another token is logged in through `hsm.session` in this process (then: `CardMissing`).
- Failures are `CardError` subclasses with one clear sentence: `WrongPin`, `CardLocked`,
  `CardMissing`, `CardEmpty`, `CardNotBlank`, `CardMismatch`, `CardUnavailable`. No PKCS#11
  exception leaves this module. The PIN is a call argument only: it is never stored, logged,
  put in a message or shown by ``repr``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto.keys import PublicKeyInfo, RSAPublicKey  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.serialization import load_der_public_key as _load_public
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.types import PrivateKey, PublicKey, Session, SignMixin, Token
from pkcs11.util.ec import encode_ec_public_key
from pkcs11.util.rsa import encode_rsa_public_key
from pkcs11.util.x509 import decode_x509_certificate

from crypto.keys import HsmUnavailable
from hsm.keyspec import P256_PARAMS
from hsm.lock import HSM_LOCK, interprocess_lock
from hsm.session import is_lost_session, load_library, mark_library_stale, mark_stale_if_alone

_T = TypeVar("_T")

#: CKA_ID of the card key pair and its certificate (``pkcs11-tool --id 01``).
CARD_KEY_ID = b"\x01"
#: CKA_LABEL of the card key pair and its certificate.
CARD_KEY_LABEL = "creditgate-card"
#: Key types a card may hold, as stored in `app.models.Card.key_type`.
KEY_TYPES = ("ec-p256", "rsa-2048")
_SPKI = PublicFormat.SubjectPublicKeyInfo


class CardError(Exception):
    """A card operation failed; the message is one sentence for the card holder, never the PIN."""


class CardMissing(CardError):
    """No token with the card's label is present."""


class WrongPin(CardError):
    """The card refused the PIN."""


class CardLocked(CardError):
    """The card's user PIN is locked (too many wrong PINs) or not initialised."""


class CardEmpty(CardError):
    """The card holds no CreditGate key (or no certificate)."""


class CardNotBlank(CardError):
    """The card already holds a key; a second one is never generated."""


class CardMismatch(CardError):
    """The certificate does not certify the key on the card."""


class CardUnavailable(CardError):
    """The PKCS#11 module or the card failed for another reason."""


@dataclass(frozen=True)
class CardState:
    """What a card holds: its key type and public key (None if no key) and its certificate."""

    key_type: str | None
    public_key_der: bytes | None
    certificate_der: bytes | None


class CardToken:
    """A smart card reached through the PKCS#11 module at `module_path`, by token label.

    `softhsm_conf` is exported as SOFTHSM2_CONF if this is the first use of the module in the
    process (SoftHSM2 reads it once); `init_lock_path` names the cross-process lock held around
    every operation (the service's HSM init lock when run next to the service).
    """

    def __init__(
        self,
        module_path: str,
        token_label: str,
        *,
        softhsm_conf: str | Path | None = None,
        init_lock_path: str | Path | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        if not module_path:
            raise ValueError("module_path is empty")
        if not token_label or len(token_label.encode("utf-8")) > 32:
            raise ValueError("a card token label is 1-32 bytes")
        self.module_path = str(module_path)
        self.token_label = token_label
        self._conf = Path(softhsm_conf) if softhsm_conf is not None else None
        self._lock_path = Path(init_lock_path) if init_lock_path is not None else None
        self._lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"CardToken(module={self.module_path!r}, token={self.token_label!r})"

    # ------------------------------------------------------------------ public operations

    def present(self) -> bool:
        """True if a token with this label is present (no PIN needed)."""
        try:
            self._run(None, lambda session: None)
        except CardMissing:
            return False
        return True

    def generate_key(self, pin: str, key_type: str = "ec-p256") -> bytes:
        """Generate the card key pair on the card; returns its DER SubjectPublicKeyInfo.

        `CardNotBlank` if the card already holds a CreditGate key or certificate.
        """
        if key_type not in KEY_TYPES:
            raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}")

        def op(session: Session) -> bytes:
            if self._objects(session, None):
                raise CardNotBlank(
                    f"Card {self.token_label!r} already holds a CreditGate key; use a blank card."
                )
            public, _ = _generate(session, key_type)
            return _public_der(public)

        return self._run(pin, op, write=True)

    def store_certificate(self, pin: str, certificate_der: bytes) -> None:
        """Store the X.509 certificate of the card key on the card, replacing an older one.

        `CardMismatch` if it certifies another key; `CardEmpty` if the card has no key.
        """
        der = bytes(certificate_der)
        try:
            certified = (
                x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, _SPKI)
            )
            template: dict[Attribute, Any] = decode_x509_certificate(der)
        except ValueError:
            raise CardMismatch("That is not a DER X.509 certificate.") from None

        def op(session: Session) -> None:
            key = _public_der(self._one(session, ObjectClass.PUBLIC_KEY))
            if _load_public(key).public_bytes(Encoding.DER, _SPKI) != certified:
                raise CardMismatch(
                    f"The certificate is not for the key on card {self.token_label!r}."
                )
            older = self._objects(session, ObjectClass.CERTIFICATE)
            template.update(
                {
                    Attribute.ID: CARD_KEY_ID,
                    Attribute.LABEL: CARD_KEY_LABEL,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                }
            )
            session.create_object(template)
            for obj in older:
                obj.destroy()

        self._run(pin, op, write=True)

    def certificate(self) -> bytes:
        """The DER certificate stored on the card (no PIN needed); `CardEmpty` if none."""

        def op(session: Session) -> bytes:
            value = self._one(session, ObjectClass.CERTIFICATE)[Attribute.VALUE]
            return bytes(value)

        return self._run(None, op)

    def sign(self, pin: str, data: bytes) -> bytes:
        """Sign `data` on the card: ECDSA P-256 over SHA-256(data) as raw r||s, or RSA
        PKCS#1 v1.5 with SHA-256. `WrongPin`, `CardEmpty`, `CardMissing` as named."""
        message = bytes(data)

        def op(session: Session) -> bytes:
            key = self._one(session, ObjectClass.PRIVATE_KEY)
            if not isinstance(key, SignMixin):
                raise CardUnavailable(f"Card {self.token_label!r} returned no signing key.")
            if key.key_type == KeyType.EC:
                digest = hashlib.sha256(message).digest()
                signature = bytes(key.sign(digest, mechanism=Mechanism.ECDSA))
                expected = 64
            elif key.key_type == KeyType.RSA:
                signature = bytes(key.sign(message, mechanism=Mechanism.SHA256_RSA_PKCS))
                expected = 256
            else:
                raise CardUnavailable(f"Card {self.token_label!r} holds an unsupported key.")
            if len(signature) != expected:
                raise CardUnavailable(f"Card {self.token_label!r} made a malformed signature.")
            return signature

        return self._run(pin, op)

    def state(self, pin: str | None = None) -> CardState:
        """What the card holds. With the PIN, a key counts only if its private half is there."""

        def op(session: Session) -> CardState:
            publics = self._objects(session, ObjectClass.PUBLIC_KEY)
            certs = self._objects(session, ObjectClass.CERTIFICATE)
            has_private = pin is None or bool(self._objects(session, ObjectClass.PRIVATE_KEY))
            public = publics[0] if len(publics) == 1 and has_private else None
            return CardState(
                key_type=_key_type(public) if isinstance(public, PublicKey) else None,
                public_key_der=_public_der(public) if isinstance(public, PublicKey) else None,
                certificate_der=bytes(certs[0][Attribute.VALUE]) if len(certs) == 1 else None,
            )

        return self._run(pin, op)

    # ------------------------------------------------------------------ machinery

    def _objects(self, session: Session, object_class: ObjectClass | None) -> list[Any]:
        attrs: dict[Attribute, Any] = {Attribute.ID: CARD_KEY_ID}
        if object_class is not None:
            attrs[Attribute.CLASS] = object_class
        return list(session.get_objects(attrs))  # exhausts the search (C_FindObjectsFinal)

    def _one(self, session: Session, object_class: ObjectClass) -> Any:
        found = self._objects(session, object_class)
        if not found:
            what = "certificate" if object_class == ObjectClass.CERTIFICATE else "key"
            raise CardEmpty(f"Card {self.token_label!r} holds no CreditGate {what}.")
        if len(found) > 1:
            raise CardUnavailable(
                f"Card {self.token_label!r} holds {len(found)} objects with the CreditGate id."
            )
        return found[0]

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        stack = contextlib.ExitStack()
        if self._lock_path is not None:
            try:
                stack.enter_context(interprocess_lock(self._lock_path, self._lock_timeout))
            except HsmUnavailable as exc:
                raise CardUnavailable(str(exc)) from None
        with stack:
            yield

    def _token(self, rescanned: bool = False) -> Token:
        try:
            lib = load_library(self.module_path, self._conf)
        except HsmUnavailable as exc:
            raise CardUnavailable(str(exc)) from None
        try:
            return lib.get_token(token_label=self.token_label)
        except p11.NoSuchToken:
            pass
        except p11.MultipleTokensReturned:
            raise CardUnavailable(
                f"More than one card is labelled {self.token_label!r}; remove one."
            ) from None
        if not rescanned:
            # A token created after C_Initialize is visible only after a re-initialisation.
            mark_stale_if_alone(self.module_path, self.token_label)
            return self._token(rescanned=True)
        raise CardMissing(f"No card labelled {self.token_label!r} is present.")

    def _open(self, pin: str | None, write: bool) -> Session:
        """A session on the card, logged in with `pin` if given (the caller holds HSM_LOCK)."""
        failure: CardError | None = None
        try:
            return self._token().open(rw=write, user_pin=pin)
        except p11.PKCS11Error as exc:
            if is_lost_session(exc):  # the module was finalised or broke: restart it next time
                mark_library_stale(self.module_path)
            failure = self._login_error(exc)
        raise failure

    def _login_error(self, exc: p11.PKCS11Error) -> CardError:
        where = f"card {self.token_label!r}"
        if isinstance(exc, (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinExpired)):
            return WrongPin(f"Wrong PIN for {where}.")
        if isinstance(exc, p11.PinLocked):
            return CardLocked(f"The PIN of {where} is locked; ask the registrar to unblock it.")
        if isinstance(exc, p11.UserPinNotInitialized):
            return CardLocked(f"The PIN of {where} was never set; the card is not initialised.")
        return CardUnavailable(f"Cannot open {where} ({type(exc).__name__}).")

    def _run(self, pin: str | None, fn: Callable[[Session], _T], *, write: bool = False) -> _T:
        """`fn` on a fresh session (logged in if `pin` is given), closed before returning."""
        if pin is not None and (not isinstance(pin, str) or not 1 <= len(pin) <= 255):
            raise WrongPin("A card PIN is 1-255 characters.")
        with HSM_LOCK, self._exclusive():
            session = self._open(pin, write)
            failure: CardError | None = None
            outcome: list[_T] = []
            try:
                outcome.append(fn(session))
            except p11.PKCS11Error as exc:
                failure = CardUnavailable(
                    f"Card {self.token_label!r} failed ({type(exc).__name__})."
                )
            finally:
                with contextlib.suppress(p11.PKCS11Error):
                    session.close()  # C_Logout (if logged in), then C_CloseSession
            # Raised outside the except clause: no PKCS#11 exception (nor the operation objects
            # its traceback keeps alive) outlives HSM_LOCK.
            if failure is not None:
                raise failure
            return outcome[0]


_PUBLIC_COMMON: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: False,
    Attribute.MODIFIABLE: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: False,
    Attribute.WRAP: False,
}
_PRIVATE_COMMON: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
    Attribute.COPYABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}


def _generate(session: Session, key_type: str) -> tuple[PublicKey, PrivateKey]:
    common: dict[str, Any] = {
        "id": CARD_KEY_ID,
        "label": CARD_KEY_LABEL,
        "store": True,
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "private_template": dict(_PRIVATE_COMMON),
    }
    if key_type == "rsa-2048":
        return session.generate_keypair(
            KeyType.RSA, 2048, public_template=dict(_PUBLIC_COMMON), **common
        )
    return session.generate_keypair(
        KeyType.EC,
        public_template={**_PUBLIC_COMMON, Attribute.EC_PARAMS: P256_PARAMS},
        **common,
    )


def _key_type(public: PublicKey) -> str | None:
    if public.key_type == KeyType.EC:
        return "ec-p256" if public[Attribute.EC_PARAMS] == P256_PARAMS else None
    if public.key_type == KeyType.RSA:
        return "rsa-2048" if len(public[Attribute.MODULUS]) == 256 else None
    return None


def _public_der(public: object) -> bytes:
    """DER SubjectPublicKeyInfo of a card public key (EC P-256 or RSA-2048 only)."""
    if not isinstance(public, PublicKey) or _key_type(public) is None:
        raise CardUnavailable("The card holds a key of an unsupported type.")
    if public.key_type == KeyType.EC:
        return encode_ec_public_key(public)
    rsa = RSAPublicKey.load(encode_rsa_public_key(public))
    return bytes(PublicKeyInfo.wrap(rsa, "rsa").dump())
