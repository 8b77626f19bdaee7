"""ConsentService on both backends with real SoftHSM2-issued card certificates: every §5 rule,
the reason it is refused with, and that a refused token counts no use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from app.container import container
from app.models import Card, Consent, Subject
from app.models.base import utcnow
from app.services.consent.consents import (
    NOT_FOUND_REASONS,
    ConsentRefused,
    ConsentRules,
    ConsentService,
    VerifiedConsent,
)
from tests.consent_helpers import (
    Signer,
    claims_for,
    ingest_subjects,
    sign_token,
    signer_for,
    token_for,
)
from tests.web.oauth_helpers import ec_key, register
from tests.web.test_card_login import SoftCard

RULES = ConsentRules(
    purposes=frozenset({"loan_approval", "tenancy_screening"}), max_days=90, max_uses=10
)
BANK = "inst-bank"


@pytest.fixture
def people(app: Flask) -> tuple[Signer, Signer]:
    alice, bob = ingest_subjects(app, 2)
    return signer_for(app, alice, "alice"), signer_for(app, bob, "bob")


def use(app: Flask, token: str, signer: Signer | None, **kwargs: Any) -> VerifiedConsent:
    parts = container(app)
    with parts.unit() as db:
        subject = None if signer is None else db.get(Subject, signer.subject_id)
        return ConsentService(RULES).verify_and_use(
            db,
            token,
            institution_client_id=kwargs.pop("client_id", BANK),
            subject=subject,
            purpose=kwargs.pop("purpose", "loan_approval"),
            now=kwargs.pop("now", utcnow()),
        )


def refused(app: Flask, token: str, signer: Signer | None, **kwargs: Any) -> str:
    with pytest.raises(ConsentRefused) as caught:
        use(app, token, signer, **kwargs)
    return caught.value.reason


def uses_of(app: Flask, jti: str) -> int | None:
    with container(app).sessions() as db:
        return db.scalars(select(Consent.uses).where(Consent.jti == jti)).one_or_none()


def test_a_valid_token_is_used_and_counted_until_used_up(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, _ = people
    claims = claims_for(alice, BANK, "loan_approval", scope=("B", "A"), max_uses=2)
    token = sign_token(alice.card, alice.kid, claims)
    first = use(app, token, alice)
    assert (first.jti, first.purpose, first.scope, first.uses) == (
        claims["jti"],
        "loan_approval",
        frozenset({"A", "B"}),
        1,
    )
    assert first.facts.scope == frozenset({"A", "B"})
    assert use(app, token, alice).uses == 2
    assert refused(app, token, alice) == "used_up"
    assert uses_of(app, claims["jti"]) == 2


def test_an_rsa_card_signs_rs256_tokens(app: Flask) -> None:
    (carol,) = ingest_subjects(app, 1, seed=11)
    signer = signer_for(app, carol, "carol", card=SoftCard.rsa())
    assert use(app, token_for(signer, BANK, "loan_approval"), signer).uses == 1


def _forged(alice: Signer, bob: Signer) -> dict[str, str]:
    claims = claims_for(alice, BANK, "loan_approval")
    good = sign_token(alice.card, alice.kid, claims)
    head, body, _sig = good.split(".")
    other = sign_token(bob.card, alice.kid, claims)  # bob's card, alice's kid
    tampered = sign_token(alice.card, alice.kid, {**claims, "max_uses": 10}).split(".")[1]
    return {
        "signed_by_another_card": other,
        "claims_altered_after_signing": f"{head}.{tampered}.{_sig}",
        "signature_stripped": f"{head}.{body}.AAAA",
    }


def test_a_forged_token_and_an_unknown_subject_are_refused_alike(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, bob = people
    for name, token in _forged(alice, bob).items():
        assert refused(app, token, alice) == "forged_signature", name
    good = token_for(alice, BANK, "loan_approval")
    assert refused(app, good, None) == "unknown_subject"
    assert refused(app, good, bob) == "unknown_card"  # alice's card is not bob's
    assert {"forged_signature", "unknown_subject", "unknown_card"} <= NOT_FOUND_REASONS


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "HS256"},
        {"alg": "PS256"},
        {"alg": "RS256"},  # an EC card cannot make RS256 tokens
        {"alg": "ES384"},
        {"kid": "not-a-thumbprint"},
        {"kid": None},
        {"jku": "https://attacker.example/keys"},
    ],
)
def test_algorithms_and_headers_outside_the_contract_are_refused(
    app: Flask, people: tuple[Signer, Signer], header: dict[str, Any]
) -> None:
    alice, _ = people
    header = dict(header)
    claims = claims_for(alice, BANK, "loan_approval")
    token = sign_token(
        alice.card,
        header.pop("kid", alice.kid) or "",
        claims,
        alg=header.pop("alg", None),
        **header,
    )
    assert refused(app, token, alice) in {"malformed", "forged_signature"}
    assert uses_of(app, claims["jti"]) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": -60}, "expired"),
        ({"iat": 3600}, "not_yet_valid"),
        ({"days": 91}, "too_long"),
        ({"scope": ()}, "malformed"),
        ({"scope": ("A", "E")}, "malformed"),
        ({"scope": ("A", "A")}, "malformed"),
        ({"max_uses": 0}, "malformed"),
        ({"max_uses": 11}, "malformed"),
        ({"max_uses": True}, "malformed"),
        ({"jti": "short"}, "malformed"),
        ({"jti": "has spaces in it, sixteen+"}, "malformed"),
        ({"sub": "not-a-uuid"}, "malformed"),
        ({"purpose": "marketing"}, "wrong_purpose"),
        (
            {"purpose": "tenancy_screening"},
            "wrong_purpose",
        ),  # in the list, but not what is asked for
        ({"aud": "inst-other"}, "wrong_audience"),
        ({"sub": "00000000-0000-7000-8000-000000000000"}, "wrong_subject"),
    ],
)
def test_each_broken_claim_is_refused_with_its_reason_and_counts_no_use(
    app: Flask, people: tuple[Signer, Signer], changes: dict[str, Any], reason: str
) -> None:
    alice, _ = people
    now = utcnow()
    kwargs = dict(changes)
    if "exp" in kwargs:
        kwargs["exp"] = int((now + timedelta(seconds=kwargs["exp"])).timestamp())
        kwargs["iat"] = int((now - timedelta(days=1)).timestamp())
    elif "iat" in kwargs:
        kwargs["iat"] = int((now + timedelta(seconds=kwargs["iat"])).timestamp())
    days = kwargs.pop("days", 30)
    scope = kwargs.pop("scope", ("A", "B"))
    max_uses = kwargs.pop("max_uses", 3)
    purpose = kwargs.pop("purpose", "loan_approval")
    audience = kwargs.pop("aud", BANK)
    claims = claims_for(
        alice, audience, purpose, days=days, scope=scope, max_uses=max_uses, now=now, **kwargs
    )
    token = sign_token(alice.card, alice.kid, claims)
    assert refused(app, token, alice) == reason
    if isinstance(claims.get("jti"), str):
        assert uses_of(app, claims["jti"]) is None


def test_a_jti_reused_with_other_bytes_is_replayed(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, _ = people
    claims = claims_for(alice, BANK, "loan_approval", max_uses=5)
    use(app, sign_token(alice.card, alice.kid, claims), alice)
    again = sign_token(alice.card, alice.kid, {**claims, "max_uses": 9})
    assert refused(app, again, alice) == "replayed"
    assert uses_of(app, claims["jti"]) == 1


def test_a_revoked_consent_or_card_stops_the_next_use(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, bob = people
    token = token_for(alice, BANK, "loan_approval")
    jti = use(app, token, alice).jti
    service = ConsentService(RULES)
    with container(app).unit() as db:
        assert service.revoke(db, jti, subject_id=bob.subject_id, now=utcnow()).consent is None
    assert use(app, token, alice).uses == 2  # Bob's revocation binds only Bob's tokens
    with container(app).unit() as db:
        view = service.revoke(db, jti, subject_id=alice.subject_id, now=utcnow()).consent
        assert view is not None
        assert view.status(utcnow()) == "revoked"
    assert refused(app, token, alice) == "revoked"
    assert uses_of(app, jti) == 2
    other = token_for(alice, BANK, "loan_approval")
    with container(app).unit() as db:
        db.execute(update(Card).where(Card.thumbprint == alice.kid).values(status="revoked"))
    assert refused(app, other, alice) == "unknown_card"


def test_a_token_revoked_before_it_was_ever_seen_is_refused_at_its_first_use(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, _ = people
    claims = claims_for(alice, BANK, "loan_approval")
    token = sign_token(alice.card, alice.kid, claims)
    service = ConsentService(RULES)
    with container(app).unit() as db:
        revocation = service.revoke(db, claims["jti"], subject_id=alice.subject_id, now=utcnow())
    assert revocation.consent is None
    assert refused(app, token, alice) == "revoked"
    assert uses_of(app, claims["jti"]) is None  # refused before it was registered or counted
    with container(app).unit() as db, pytest.raises(ConsentRefused) as caught:
        service.revoke(db, "not a jti", subject_id=alice.subject_id, now=utcnow())
    assert caught.value.reason == "malformed"


def test_the_subject_registers_lists_and_revokes_their_own_consents(
    app: Flask, people: tuple[Signer, Signer]
) -> None:
    alice, bob = people
    client_id = register(app, ec_key())
    token = token_for(alice, client_id, "tenancy_screening", max_uses=2)
    service = ConsentService(RULES)
    parts = container(app)
    with parts.unit() as db:
        view, new = service.register(db, token, subject_id=alice.subject_id, now=utcnow())
    assert new
    assert (view.institution, view.purpose, view.uses, view.max_uses) == (
        client_id,
        "tenancy_screening",
        0,
        2,
    )
    with parts.unit() as db:
        assert service.register(db, token, subject_id=alice.subject_id, now=utcnow())[1] is False
    with parts.unit() as db, pytest.raises(ConsentRefused) as caught:
        service.register(db, token, subject_id=bob.subject_id, now=utcnow())
    assert caught.value.reason == "unknown_card"
    with parts.unit() as db, pytest.raises(ConsentRefused) as caught:
        service.register(
            db,
            token_for(alice, "inst-nobody", "tenancy_screening"),
            subject_id=alice.subject_id,
            now=utcnow(),
        )
    assert caught.value.reason == "unknown_institution"
    with parts.sessions() as db:
        assert [v.jti for v in service.list_for(db, alice.subject_id)] == [view.jti]
        assert service.list_for(db, bob.subject_id) == []
