"""Smart cards on real SoftHSM2 tokens: key generation on the card, certificates, signing, errors.

Each test that puts a key on a card uses its own pre-created card token (tests.softhsm_fixtures
CARD_TOKEN_LABELS); this module owns cg-card-1 to cg-card-4.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass

from crypto.keys import MacKey
from hsm import Pkcs11KeyProvider
from hsm.card import (
    CARD_KEY_ID,
    CardEmpty,
    CardMismatch,
    CardMissing,
    CardNotBlank,
    CardToken,
    WrongPin,
)
from hsm.lock import HSM_LOCK
from hsm.session import load_library
from tests.softhsm_fixtures import SoftHsmEnv

EC_CARD, RSA_CARD, BLANK_CARD, SPARE_CARD = "cg-card-1", "cg-card-2", "cg-card-3", "cg-card-4"


def _card(env: SoftHsmEnv, label: str) -> CardToken:
    return CardToken(env.module, label, softhsm_conf=env.conf_path, init_lock_path=env.lock_path)


def _self_signed(public_der: bytes, name: str = "someone") -> bytes:
    """A certificate for `public_der` (signed by a throw-away key: the card does not check)."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(load_der_public_key(public_der))  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def _verify_ecdsa(public_der: bytes, message: bytes, raw: bytes) -> None:
    key = load_der_public_key(public_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))


def _private_key_attributes(env: SoftHsmEnv, label: str) -> dict[Attribute, object]:
    """Read the card's private-key flags straight from the token (as an auditor would)."""
    wanted = [
        Attribute.SENSITIVE,
        Attribute.EXTRACTABLE,
        Attribute.NEVER_EXTRACTABLE,
        Attribute.LOCAL,
        Attribute.SIGN,
        Attribute.DECRYPT,
        Attribute.UNWRAP,
        Attribute.DERIVE,
        Attribute.TOKEN,
        Attribute.PRIVATE,
    ]
    with HSM_LOCK:
        token = load_library(env.module, env.conf_path).get_token(token_label=label)
        with token.open(user_pin=env.pin) as session:
            keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
            assert len(keys) == 1
            flags = keys[0].get_attributes(wanted)
            assert keys[0][Attribute.ID] == CARD_KEY_ID
    return {Attribute(k): v for k, v in flags.items()}


def test_an_ec_card_key_is_made_on_the_card_signs_and_carries_its_certificate(
    softhsm_env: SoftHsmEnv,
) -> None:
    card = _card(softhsm_env, EC_CARD)
    public_der = card.generate_key(softhsm_env.pin)
    key = load_der_public_key(public_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)

    flags = _private_key_attributes(softhsm_env, EC_CARD)
    assert flags[Attribute.SENSITIVE] is True
    assert flags[Attribute.EXTRACTABLE] is False
    assert flags[Attribute.NEVER_EXTRACTABLE] is True
    assert flags[Attribute.LOCAL] is True  # generated on the card, not imported
    assert flags[Attribute.SIGN] is True
    assert flags[Attribute.TOKEN] is True
    assert flags[Attribute.PRIVATE] is True
    assert not any(flags[a] for a in (Attribute.DECRYPT, Attribute.UNWRAP, Attribute.DERIVE))

    challenge = b"creditgate-portal|zhang.wei|nonce|expiry"
    signature = card.sign(softhsm_env.pin, challenge)
    assert len(signature) == 64  # raw r||s
    _verify_ecdsa(public_der, challenge, signature)
    with pytest.raises(InvalidSignature):
        _verify_ecdsa(public_der, challenge + b"!", signature)

    with pytest.raises(CardEmpty, match="no CreditGate certificate"):
        card.certificate()
    certificate = _self_signed(public_der, "zhang.wei")
    card.store_certificate(softhsm_env.pin, certificate)
    assert card.certificate() == certificate
    renewed = _self_signed(public_der, "zhang.wei")
    card.store_certificate(softhsm_env.pin, renewed)  # replaces, never two
    assert card.certificate() == renewed
    state = card.state(softhsm_env.pin)
    assert (state.key_type, state.public_key_der, state.certificate_der) == (
        "ec-p256",
        public_der,
        renewed,
    )


def test_a_card_never_gets_a_second_key_nor_a_certificate_for_another_key(
    softhsm_env: SoftHsmEnv,
) -> None:
    card = _card(softhsm_env, SPARE_CARD)
    public_der = card.generate_key(softhsm_env.pin)
    with pytest.raises(CardNotBlank, match="already holds a CreditGate key"):
        card.generate_key(softhsm_env.pin, "rsa-2048")
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    foreign = _self_signed(stranger.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(CardMismatch, match="not for the key on card"):
        card.store_certificate(softhsm_env.pin, foreign)
    with pytest.raises(CardMismatch, match=r"not a DER X\.509"):
        card.store_certificate(softhsm_env.pin, b"\x30\x03\x02\x01\x01")
    assert card.state(softhsm_env.pin).certificate_der is None
    _verify_ecdsa(
        public_der, b"still the same key", card.sign(softhsm_env.pin, b"still the same key")
    )


def test_an_rsa_card_signs_pkcs1_v15_over_sha256(softhsm_env: SoftHsmEnv) -> None:
    card = _card(softhsm_env, RSA_CARD)
    public_der = card.generate_key(softhsm_env.pin, "rsa-2048")
    key = load_der_public_key(public_der)
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    signature = card.sign(softhsm_env.pin, b"to be signed")
    assert len(signature) == 256
    key.verify(signature, b"to be signed", padding.PKCS1v15(), hashes.SHA256())
    assert card.state().key_type == "rsa-2048"
    assert _private_key_attributes(softhsm_env, RSA_CARD)[Attribute.EXTRACTABLE] is False


def test_wrong_pin_missing_card_and_empty_card_are_told_apart(softhsm_env: SoftHsmEnv) -> None:
    wrong = "000000-" + softhsm_env.pin[::-1]
    blank = _card(softhsm_env, BLANK_CARD)
    with pytest.raises(WrongPin, match="Wrong PIN for card 'cg-card-3'") as refused:
        blank.sign(wrong, b"x")
    assert wrong not in str(refused.value)
    assert softhsm_env.pin not in str(refused.value)
    with pytest.raises(WrongPin):
        blank.generate_key("", "ec-p256")
    with pytest.raises(CardEmpty, match="holds no CreditGate key"):
        blank.sign(softhsm_env.pin, b"x")
    assert blank.state(softhsm_env.pin).public_key_der is None
    assert blank.present()

    missing = _card(softhsm_env, "no-such-card")
    assert not missing.present()
    with pytest.raises(CardMissing, match="No card labelled 'no-such-card' is present"):
        missing.sign(softhsm_env.pin, b"x")


def test_card_use_never_shows_the_pin_nor_disturbs_the_service_token(
    softhsm_env: SoftHsmEnv, service_provider: Pkcs11KeyProvider
) -> None:
    before = service_provider.hmac_sha256(MacKey.BLIND_INDEX, b"110101199003074578")
    card = _card(softhsm_env, BLANK_CARD)
    assert card.state(softhsm_env.pin).key_type is None  # logged in and out again
    assert softhsm_env.pin not in repr(card)
    assert softhsm_env.pin not in repr(vars(card))
    with pytest.raises(WrongPin):
        card.sign("not-the-pin", b"two")
    assert not _card(softhsm_env, "no-such-card").present()
    after = service_provider.hmac_sha256(MacKey.BLIND_INDEX, b"110101199003074578")
    assert after == before
