"""Card step-up for staff (ARCHITECTURE §1): `POST /api/v1/auth/step-up/card` turns a
password+TOTP session into a NEW session with the card added. The card is a
software key pair (`SoftCard`) with a real certificate from the card CA in SoftHSM2."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.container import container
from app.models import AuthSession, LoginChallenge
from app.models.base import utcnow
from app.services.auth.cards import revoke
from app.services.auth.sessions import SessionService
from app.services.auth.step_up import CardStepUp, StepUpOutcome
from app.web.identity import THROTTLED
from app.web.step_up import STEP_UP_NOT_ALLOWED
from tests.logins import expire_challenge, logged_in, make_account
from tests.web.test_card_login import (
    CHALLENGE,
    PASSWORD,
    Holder,
    SoftCard,
    attempts_for,
    b64u,
    enrol_certificate,
    enrolled_subject,
    get_challenge,
    issue,
    live_sessions,
    login_with,
)
from tests.web.test_login_security import insert_card_row

STEP_UP = "/api/v1/auth/step-up/card"
SESSION = "/api/v1/auth/session"
LOGOUT = "/api/v1/auth/logout"
PASSWORD_TOTP = frozenset({"password", "totp"})
FAILED = {"error": "step_up_failed", "message": "Step-up failed."}


def enrolled_staff(
    app: Flask, username: str, roles: tuple[str, ...] = ("registrar",), card: SoftCard | None = None
) -> Holder:
    """A staff account with an enrolled (software) card."""
    account = make_account(app, username, kind="staff", roles=roles)
    card = card or SoftCard.ec()
    der = issue(app, username, card)
    return Holder(account, card, der, enrol_certificate(app, account, der))


def session_id(client: FlaskClient) -> str:
    with client.session_transaction() as cookie:
        token: str = cookie["_user_id"]
    return token


def with_session_id(app: Flask, token: str) -> FlaskClient:
    """A fresh client that presents `token` as its session id (an attacker replaying it)."""
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = token
        cookie["_fresh"] = True
    return client


def post_step_up(
    client: FlaskClient, csrf: str | None, challenge_id: str, signature: str | None, **kw: object
) -> TestResponse:
    body = {"challenge_id": challenge_id, **({"signature": signature} if signature else {})}
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    return client.post(STEP_UP, json=body, headers=headers, **kw)


def step_up(
    client: FlaskClient, csrf: str, staff: Holder, *, form: str = "raw", **kw: object
) -> TestResponse:
    """The honest dance: a challenge for one's own username, signed on one's own card."""
    challenge_id, to_be_signed = get_challenge(client, staff.username, **kw)
    signature = b64u(staff.card.sign(to_be_signed, form=form))
    return post_step_up(client, csrf, challenge_id, signature, **kw)


def challenge_used(app: Flask, challenge_id: str) -> bool:
    with container(app).sessions() as db:
        return (
            db.scalar(select(LoginChallenge.used_at).where(LoginChallenge.id == challenge_id))
            is not None
        )


def methods_of(client: FlaskClient) -> list[str]:
    methods: list[str] = client.get(SESSION).get_json()["methods"]  # KeyError if logged out
    return methods


# -- success ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_card", "form", "role"),
    [
        (SoftCard.ec, "raw", "registrar"),
        (SoftCard.ec, "der", "key_custodian"),
        (SoftCard.rsa, "raw", "compliance"),
    ],
    ids=["ecdsa-raw-registrar", "ecdsa-der-key-custodian", "rsa-pkcs1-compliance"],
)
def test_step_up_adds_the_card_under_a_new_session_id(
    app: Flask, make_card: Callable[[], SoftCard], form: str, role: str
) -> None:
    staff = enrolled_staff(app, "staff.wu", (role,), make_card())
    client, old_csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    old_id = session_id(client)

    response = step_up(client, old_csrf, staff, form=form)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "username": "staff.wu",
        "kind": "staff",
        "roles": [role],
        "methods": ["card", "password", "totp"],
    }
    new_id = session_id(client)
    assert new_id != old_id  # the cookie carries a new session id
    whoami = client.get(SESSION).get_json()
    assert whoami["methods"] == ["card", "password", "totp"]
    assert whoami["csrf_token"] != old_csrf  # a new session, a new CSRF token
    # The old id is dead: replayed from another client it is not a login any more.
    assert with_session_id(app, old_id).get(SESSION).status_code == 401
    assert with_session_id(app, new_id).get(SESSION).status_code == 200
    # Nor does the old CSRF token work with the new session.
    assert client.post(LOGOUT, headers={"X-CSRF-Token": old_csrf}).status_code == 403
    with container(app).sessions() as db:
        query = select(AuthSession).where(AuthSession.account_id == staff.account.id)
        rows = sorted(db.scalars(query), key=lambda row: row.ended_at is None)
    assert [(row.end_reason, row.card_id, row.methods) for row in rows] == [
        ("replaced", None, "password+totp"),
        (None, staff.card_id, "card+password+totp"),
    ]
    (attempt,) = attempts_for(app, "staff.wu")
    assert (attempt.method, attempt.outcome, attempt.reason) == ("card", "success", "ok")
    assert attempt.account_id == staff.account.id


# -- refused before anything happens: no session, CSRF, sessions that may not step up --------------


def assert_untouched(
    app: Flask, client: FlaskClient, before: str, methods: list[str], challenge_id: str
) -> None:
    """The caller's session is as it was, the challenge unspent, no attempt recorded."""
    whoami = client.get(SESSION).get_json()
    assert (session_id(client), whoami["methods"]) == (before, methods)
    assert not challenge_used(app, challenge_id)
    assert attempts_for(app, whoami["username"]) == []


def test_without_a_session_the_gate_answers_401_and_nothing_is_consumed(app: Flask) -> None:
    staff = enrolled_staff(app, "registrar.no.session")
    client = app.test_client()
    challenge_id, tbs = get_challenge(client, staff.username)
    response = post_step_up(client, None, challenge_id, b64u(staff.card.sign(tbs)))
    assert response.status_code == 401
    assert response.get_json()["error"] == "authentication_required"
    nothing = (challenge_used(app, challenge_id), attempts_for(app, staff.username))
    assert (*nothing, live_sessions(app, staff.account)) == (False, [], 0)


@pytest.mark.parametrize("csrf", ["missing", "wrong", "another-sessions-token"])
def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(
    app: Flask, csrf: str
) -> None:
    staff = enrolled_staff(app, "registrar.csrf")
    client, right = logged_in(app, staff.account, PASSWORD_TOTP)
    _, other_sessions_token = logged_in(app, staff.account, PASSWORD_TOTP)
    sent = {"missing": None, "wrong": "x" * 43, "another-sessions-token": other_sessions_token}
    before = session_id(client)
    challenge_id, tbs = get_challenge(client, staff.username)
    signature = b64u(staff.card.sign(tbs))
    refused = post_step_up(client, sent[csrf], challenge_id, signature)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "csrf_failed"
    assert_untouched(app, client, before, ["password", "totp"], challenge_id)
    # The same challenge, now with the session's token, goes through: nothing was spent.
    assert post_step_up(client, right, challenge_id, signature).status_code == 200


@pytest.mark.parametrize(
    ("kind", "methods"),
    [
        ("subject", "card+password"),
        ("staff", "password"),
        ("staff", "totp"),
        ("staff", "card+password"),
    ],
)
def test_only_staff_sessions_with_password_and_totp_may_step_up(
    app: Flask, kind: str, methods: str
) -> None:
    enrolled = enrolled_subject if kind == "subject" else enrolled_staff
    party = enrolled(app, "who.ever")
    client, csrf = logged_in(app, party.account, frozenset(methods.split("+")))
    before = session_id(client)
    challenge_id, tbs = get_challenge(client, "who.ever")
    response = post_step_up(client, csrf, challenge_id, b64u(party.card.sign(tbs)))
    assert response.status_code == 403
    assert response.get_json() == STEP_UP_NOT_ALLOWED
    assert_untouched(app, client, before, methods.split("+"), challenge_id)


MATRIX = {  # the failure matrix: case -> the precise reason recorded
    "signature-wrong": "bad_signature",
    "signature-missing": "bad_signature",
    "signature-by-another-key": "bad_signature",
    "signature-by-another-accounts-card": "bad_signature",
    "signature-over-other-bytes": "bad_signature",
    "card-revoked": "card_revoked",
    "card-expired": "cert_expired",
    "no-card-enrolled": "no_card",
    "challenge-expired": "challenge_expired",
    "challenge-replayed": "challenge_replayed",
    "challenge-burnt-by-a-failed-login": "challenge_replayed",
    "challenge-for-another-username": "bad_challenge",
    "challenge-never-existed": "bad_challenge",
}


def _broken_step_up(app: Flask, case: str) -> tuple[FlaskClient, str, uuid.UUID, TestResponse]:
    """`registrar.ma`'s honest step-up with exactly the one thing that `case` names broken;
    returns the client, its session id before, the account id and the answer."""
    if case == "no-card-enrolled":
        account = make_account(app, "registrar.ma", kind="staff", roles=("registrar",))
        staff = Holder(account, SoftCard.ec(), b"", uuid.uuid4())  # a key no card row holds
    else:
        staff = enrolled_staff(app, "registrar.ma")
    card, username = staff.card, staff.username
    match case:  # card-side breakage first: revoking a card ends every session of its account
        case "signature-by-another-key":
            card = SoftCard.ec()
        case "signature-by-another-accounts-card":
            card = enrolled_staff(app, "custodian.lin", ("key_custodian",)).card
        case "card-revoked" | "card-expired":
            with container(app).unit() as db:
                revoke(db, staff.card_id, "lost")
        case "challenge-for-another-username":
            username = enrolled_staff(app, "custodian.lin", ("key_custodian",)).username
    if case == "card-expired":  # the only active card is one whose certificate has expired
        card = SoftCard.ec()
        expired = issue(app, staff.username, card, days=2, now=utcnow() - timedelta(days=30))
        insert_card_row(app, staff.account, expired)
    client, csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    before = session_id(client)
    challenge_id, tbs = get_challenge(client, username)
    if case == "signature-over-other-bytes":
        _, tbs = get_challenge(client, staff.username)
    signature: str | None = b64u(card.sign(tbs))
    match case:
        case "signature-wrong":
            signature = b64u(bytes(range(64)))
        case "signature-missing":
            signature = None
        case "challenge-expired":
            expire_challenge(app, challenge_id)
        case "challenge-replayed":  # the honest use, from another session of the same account
            first, first_csrf = logged_in(app, staff.account, PASSWORD_TOTP)
            assert post_step_up(first, first_csrf, challenge_id, signature).status_code == 200
        case "challenge-burnt-by-a-failed-login":  # staff may not use the subject card login
            login = login_with(app.test_client(), challenge_id, username, PASSWORD, signature)
            assert login.status_code == 401
        case "challenge-never-existed":
            challenge_id = b64u(uuid.uuid4().bytes * 2)[:43]
    return client, before, staff.account.id, post_step_up(client, csrf, challenge_id, signature)


@pytest.mark.parametrize("case", list(MATRIX))
def test_step_up_matrix_fails_generically_and_records_the_precise_reason(
    app: Flask, case: str
) -> None:
    client, before, account_id, response = _broken_step_up(app, case)
    assert response.status_code == 401
    assert response.get_json() == FAILED  # one generic body whatever failed
    attempt = attempts_for(app, "registrar.ma")[-1]
    assert (attempt.method, attempt.outcome, attempt.reason) == ("card", "failure", MATRIX[case])
    assert attempt.account_id == account_id
    assert session_id(client) == before  # the session is left as it was, without the card
    assert methods_of(client) == ["password", "totp"]
    with container(app).sessions() as db:
        live = db.scalars(select(AuthSession.card_id).where(AuthSession.ended_at.is_(None)))
        # Only the honest first use in the replay case made a card session (its own client).
        assert len([c for c in live if c]) == (1 if case == "challenge-replayed" else 0)


# -- bad input, throttling -------------------------------------------------------------------------


MALFORMED = {  # case: body (a str is sent as text/plain); "LIVE" is a live challenge's id
    "not-json": "not json",
    "not-an-object": ["LIVE", "list"],
    "no-challenge-id": {"signature": b64u(b"\x01" * 64)},
    "bad-challenge-id": {"challenge_id": "short", "signature": b64u(b"\x01" * 64)},
    "bad-base64": {"challenge_id": "LIVE", "signature": "not base64!"},
    "impossible-length": {"challenge_id": "LIVE", "signature": b64u(b"\x01" * 10)},
    "not-a-string": {"challenge_id": "LIVE", "signature": 12345},
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bodies_answer_400_and_change_nothing(app: Flask, case: str) -> None:
    staff = enrolled_staff(app, "registrar.bad")
    client, csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    before = session_id(client)
    challenge_id, _ = get_challenge(client, staff.username)
    body = MALFORMED[case]
    if isinstance(body, dict):
        body = {k: challenge_id if v == "LIVE" else v for k, v in body.items()}
    sent = {"data": body, "content_type": "text/plain"} if isinstance(body, str) else {"json": body}
    response = client.post(STEP_UP, headers={"X-CSRF-Token": csrf}, **sent)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert "not base64!" not in response.get_data(as_text=True)
    assert_untouched(app, client, before, ["password", "totp"], challenge_id)


def test_five_failed_step_ups_throttle_the_account_but_nobody_else(app: Flask) -> None:
    staff = enrolled_staff(app, "registrar.hu")
    client, csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    challenges = [get_challenge(client, staff.username) for _ in range(6)]
    for challenge_id, tbs in challenges[:5]:
        wrong = post_step_up(client, csrf, challenge_id, b64u(SoftCard.ec().sign(tbs)))
        assert wrong.status_code == 401
    challenge_id, tbs = challenges[5]  # issued before the lock-out, signed by the right card

    response = post_step_up(client, csrf, challenge_id, b64u(staff.card.sign(tbs)))

    assert response.status_code == 429
    assert response.get_json() == THROTTLED
    assert response.headers["Retry-After"] == "60"
    last = attempts_for(app, staff.username)[-1]
    assert (last.method, last.outcome, last.reason) == ("card", "throttled", "too_many_failures")
    assert methods_of(client) == ["password", "totp"]
    assert client.post(CHALLENGE, json={"username": staff.username}).status_code == 429
    # Not global: another staff member, from another address, steps up meanwhile.
    colleague = enrolled_staff(app, "custodian.he", ("key_custodian",))
    other, other_csrf = logged_in(app, colleague.account, PASSWORD_TOTP)
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    assert step_up(other, other_csrf, colleague, environ_base=elsewhere).status_code == 200


# -- after the step-up -----------------------------------------------------------------------------


def test_revoking_the_card_ends_the_stepped_up_session(app: Flask) -> None:
    staff = enrolled_staff(app, "registrar.ma.lin")
    client, csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    assert step_up(client, csrf, staff).status_code == 200
    assert methods_of(client) == ["card", "password", "totp"]
    with container(app).unit() as db:
        revocation = revoke(db, staff.card_id, "stolen")
    assert revocation.sessions_ended == 1
    assert client.get(SESSION).status_code == 401
    assert live_sessions(app, staff.account) == 0
    # And the revoked card cannot step a new password+TOTP session up again.
    again, again_csrf = logged_in(app, staff.account, PASSWORD_TOTP)
    assert step_up(again, again_csrf, staff).status_code == 401
    assert attempts_for(app, staff.username)[-1].reason == "card_revoked"


def test_a_session_ended_after_the_gate_let_it_in_steps_nothing_up(app: Flask) -> None:
    """The service looks the session up again inside its own transaction."""
    staff = enrolled_staff(app, "registrar.gone")
    client, _ = logged_in(app, staff.account, PASSWORD_TOTP)
    token = session_id(client)
    challenge_id, tbs = get_challenge(client, staff.username)
    with container(app).unit() as db:
        SessionService().end(db, token, "logout")  # e.g. a logout in another tab, meanwhile
        result = CardStepUp(container(app).key_provider).step_up(
            db,
            token=token,
            challenge_id=challenge_id,
            signature=staff.card.sign(tbs),
            address="::1",
        )
    assert (result.outcome, result.token) == (StepUpOutcome.SESSION_ENDED, None)
    assert not challenge_used(app, challenge_id)
    assert attempts_for(app, staff.username) == []
