"""`python -m app.client consent …` against a scripted stand-in of the API, signing on real
SoftHSM2 cards (this module owns cg-card-11, EC, and cg-card-12, RSA). The stand-in checks each
token with the service's own verifier (`app.services.consent.tokens`, joserfc under the card
certificate), so a token the client prints is one the service accepts."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key
from cryptography.x509.oid import NameOID

from app.services.consent.tokens import ConsentRefused, check_claims, parse, verify_signature
from hsm.card import CardToken
from tests.softhsm_fixtures import SoftHsmEnv
from tests.unit.client_standin import SUBJECT_REF, StandIn, Terminal, standin

__all__ = ["standin"]

PURPOSES = ("loan_approval", "employment_screening")
BANK = "cg_bank_7f3a"


def _card_with_certificate(env: SoftHsmEnv, label: str, key_type: str) -> bytes:
    """The card's certificate DER: a key generated on the card, certified by a test CA."""
    card = CardToken(env.module, label)
    state = card.state(env.pin)
    if state.certificate_der is not None:
        return state.certificate_der
    public_der = state.public_key_der or card.generate_key(env.pin, key_type)
    ca = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test card CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(load_der_public_key(public_der))  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(ca, hashes.SHA256())
    )
    der = certificate.public_bytes(Encoding.DER)
    card.store_certificate(env.pin, der)
    return der


@pytest.fixture(scope="module")
def cards(softhsm_env: SoftHsmEnv) -> dict[str, bytes]:
    return {
        "cg-card-11": _card_with_certificate(softhsm_env, "cg-card-11", "ec-p256"),
        "cg-card-12": _card_with_certificate(softhsm_env, "cg-card-12", "rsa-2048"),
    }


@pytest.fixture
def service(
    standin: StandIn, cards: dict[str, bytes], softhsm_env: SoftHsmEnv, monkeypatch: Any
) -> StandIn:
    """The stand-in registers a token only if the service's verifier accepts it."""
    monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm_env.conf_path))
    by_kid = {hashlib.sha256(der).hexdigest(): der for der in cards.values()}

    def register(sent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            parsed = parse(sent["token"])
            if parsed.kid not in by_kid:
                raise ConsentRefused("unknown_card")
            raw = verify_signature(parsed, by_kid[parsed.kid])
            claims = check_claims(
                raw, purposes=PURPOSES, max_days=90, max_uses=10, now=datetime.now(UTC)
            )
        except ConsentRefused as refused:
            return 400, {"error": refused.reason, "message": "refused"}
        if claims.aud != BANK:
            return 400, {"error": "unknown_institution", "message": "No such institution."}
        return 201, {"consent": {"jti": claims.jti, "status": "active"}}

    standin.handle("POST", "/api/v1/self/consents", register)
    return standin


def _decode(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _create(env: SoftHsmEnv, label: str, *extra: str) -> list[str]:
    return ["consent", "create", "--institution", BANK, "--purpose", "loan_approval",
            "--days", "30", "--token-label", label, "--module", env.module, *extra]  # fmt: skip


@pytest.mark.parametrize(("label", "alg"), [("cg-card-11", "ES256"), ("cg-card-12", "RS256")])
def test_create_signs_on_the_card_registers_and_prints_only_the_token(
    softhsm_env: SoftHsmEnv, service: StandIn, cards: dict[str, bytes], label: str, alg: str
) -> None:
    terminal = Terminal(softhsm_env.pin)
    argv = _create(softhsm_env, label, "--scope", "b,a,D", "--max-uses", "3")
    assert terminal.run(*argv) == 0
    assert terminal.prompts == [f"PIN for card {label}: "]
    token = terminal.out.getvalue().removesuffix("\n")
    assert "\n" not in token
    assert service.last("POST", "/api/v1/self/consents").body == {"token": token}
    header_part, claims_part, _ = token.split(".")
    assert _decode(header_part) == {
        "alg": alg,
        "typ": "JWT",
        "kid": hashlib.sha256(cards[label]).hexdigest(),
    }
    claims = _decode(claims_part)
    assert claims["aud"] == BANK
    assert claims["sub"] == SUBJECT_REF
    assert claims["purpose"] == "loan_approval"
    assert claims["scope"] == ["A", "B", "D"]
    assert claims["max_uses"] == 3
    assert claims["exp"] - claims["iat"] == 30 * 86400
    assert len(claims["jti"]) >= 22
    said = terminal.err.getvalue()
    assert said.startswith(f"Consent {claims['jti']} for {BANK}: purpose loan_approval,")
    assert said.count("\n") == 1
    assert softhsm_env.pin not in terminal.out.getvalue() + said


def test_two_tokens_never_share_a_jti(softhsm_env: SoftHsmEnv, service: StandIn) -> None:
    tokens = []
    for _ in range(2):
        terminal = Terminal(softhsm_env.pin)
        assert terminal.run(*_create(softhsm_env, "cg-card-11")) == 0
        tokens.append(_decode(terminal.out.getvalue().split(".")[1])["jti"])
    assert tokens[0] != tokens[1]


def test_a_wrong_pin_signs_nothing_and_sends_nothing(
    softhsm_env: SoftHsmEnv, service: StandIn
) -> None:
    terminal = Terminal("0000-wrong")
    assert terminal.run(*_create(softhsm_env, "cg-card-11")) == 2
    assert terminal.err.getvalue() == "Wrong PIN for card 'cg-card-11'.\n"
    assert terminal.out.getvalue() == ""
    assert not [s for s in service.seen if s.path == "/api/v1/self/consents"]


def test_a_refused_token_is_one_clear_line_and_is_not_printed(
    softhsm_env: SoftHsmEnv, service: StandIn
) -> None:
    terminal = Terminal(softhsm_env.pin)
    argv = _create(softhsm_env, "cg-card-11")
    argv[argv.index(BANK)] = "cg_nobody"
    assert terminal.run(*argv) == 1
    assert terminal.out.getvalue() == ""
    assert terminal.err.getvalue() == (
        "Refused (unknown_institution): No active institution has that client id.\n"
    )
    service.handle(
        "POST",
        "/api/v1/self/consents",
        lambda _sent: (400, {"error": "unknown_card", "message": "x"}),
    )
    other = Terminal(softhsm_env.pin)
    assert other.run(*_create(softhsm_env, "cg-card-11")) == 1
    assert other.err.getvalue() == (
        "Refused (unknown_card): The card is not one of your active enrolled cards.\n"
    )


def test_bad_arguments_are_refused_before_the_card_or_the_service_is_asked(
    softhsm_env: SoftHsmEnv, service: StandIn
) -> None:
    for extra, message in (
        (("--days", "91"), "--days must be between 1 and 90.\n"),
        (("--days", "0"), "--days must be between 1 and 90.\n"),
        (("--scope", "A,E"), "--scope must list distinct categories among A, B, C, D"),
        (("--max-uses", "0"), "--max-uses must be at least 1.\n"),
    ):
        terminal = Terminal()
        assert terminal.run(*_create(softhsm_env, "cg-card-11"), *extra) == 1
        assert terminal.err.getvalue().startswith(message)
        assert terminal.prompts == []
    assert service.seen == []
    missing = Terminal()
    assert missing.run(*_create(softhsm_env, "no-such-card")) == 2
    assert missing.err.getvalue() == "No card labelled 'no-such-card' is present.\n"
    assert missing.prompts == []


def test_a_staff_session_cannot_give_consent(softhsm_env: SoftHsmEnv, service: StandIn) -> None:
    del service.session["subject_ref"]
    terminal = Terminal()
    assert terminal.run(*_create(softhsm_env, "cg-card-11")) == 1
    assert terminal.err.getvalue() == (
        "Only a subject logged in with password and card can give consent.\n"
    )
    assert terminal.prompts == []


def test_list_and_revoke(service: StandIn) -> None:
    consent = {
        "jti": "Jt1_abcdefghijklmnop",
        "institution": BANK,
        "purpose": "loan_approval",
        "scope": ["A", "B", "D"],
        "issued_at": "2026-11-01T00:00:00+00:00",
        "expires_at": "2026-12-01T00:00:00+00:00",
        "max_uses": 3,
        "uses": 1,
        "uses_left": 2,
        "revoked": False,
        "revoked_at": None,
        "status": "active",
    }
    service.on("GET", "/api/v1/self/consents", 200, {"consents": [consent]})
    listed = Terminal()
    assert listed.run("consent", "list") == 0
    assert listed.out.getvalue() == (
        f"Jt1_abcdefghijklmnop  active  for {BANK}  purpose loan_approval  scope A, B, D"
        "  used 1/3  expires 2026-12-01T00:00:00+00:00\n"
    )
    raw = Terminal()
    assert raw.run("consent", "list", "--json") == 0
    assert json.loads(raw.out.getvalue()) == {"consents": [consent]}

    path = "/api/v1/self/consents/Jt1_abcdefghijklmnop/revoke"
    revoked = {**consent, "status": "revoked", "revoked": True}
    revocation = {"jti": "Jt1_abcdefghijklmnop", "revoked_at": "2026-11-02T00:00:00+00:00"}
    service.on("POST", path, 200, {"consent": revoked, "revocation": revocation})
    done = Terminal()
    assert done.run("consent", "revoke", "Jt1_abcdefghijklmnop") == 0
    assert done.out.getvalue().startswith("Revoked: Jt1_abcdefghijklmnop  revoked  for")
    # a token signed but never registered (or given to the institution directly)
    service.on("POST", path, 200, {"consent": None, "revocation": revocation})
    unregistered = Terminal()
    assert unregistered.run("consent", "revoke", "Jt1_abcdefghijklmnop") == 0
    assert unregistered.out.getvalue() == (
        "Revoked: Jt1_abcdefghijklmnop  (never registered: any institution presenting a token "
        "you signed with this id is refused)\n"
    )
    odd = Terminal()
    assert odd.run("consent", "revoke", "../../etc") == 1
    assert odd.err.getvalue() == "That is not a consent id.\n"
