"""Staff login over HTTP: the failure matrix (one generic 401, precise reasons recorded), replay,
throttling, fixation, re-hashing, timing, TOTP re-enrolment, and no secrets in logs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from argon2 import Parameters, PasswordHasher, Type, extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.container import container
from app.models import Account, LoginAttempt
from app.services.auth.accounts import AccountService
from app.services.auth.login_attempts import (
    MAX_FAILURES,
    MAX_FAILURES_PER_ADDRESS,
    AttemptLog,
    Method,
    Outcome,
    Reason,
)
from app.services.auth.totp import TotpService
from app.web.identity import LOGIN_FAILED, THROTTLED
from tests.logins import argon2_verifications, logged_in, make_account

LOGIN = "/api/v1/auth/staff/login"
ENROL = "/api/v1/auth/totp/enrol"
CONFIRM = "/api/v1/auth/totp/confirm"
PASSWORD = "violet tram ledger 47"


@dataclass
class Staff:
    account: Account
    username: str
    password: str
    secret: str

    def code(self, offset: int = 0) -> str:
        """The code of the current step + `offset` (the server accepts -1..+1)."""
        return pyotp.TOTP(self.secret).at(time.time() + 30 * offset)


def _totp(app: Flask) -> TotpService:
    return TotpService(container(app).keys, container(app).cipher)


def _secret(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def enrolled_staff(app: Flask, username: str, *roles: str, confirm: bool = True) -> Staff:
    """A staff account whose TOTP was confirmed two steps ago (so every current step is free)."""
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).create_staff(
            db, username, PASSWORD, roles or ("registrar",)
        )
        secret = _secret(_totp(app).enrol(db, account).otpauth_uri)
    if confirm:
        past = time.time() - 60
        with container(app).unit() as db:
            code = pyotp.TOTP(secret).at(past)
            assert _totp(app).confirm(db, account, code, now=past) is None
    return Staff(account, username, PASSWORD, secret)


def login(
    client: FlaskClient, username: str, password: str, otp: str, address: str = "192.0.2.10"
) -> tuple[int, dict[str, object]]:
    response = client.post(
        LOGIN,
        json={"username": username, "password": password, "otp": otp},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code, response.get_json()


def attempts(app: Flask, username: str) -> list[tuple[str, str]]:
    """(outcome, reason) of every attempt recorded for `username`, oldest first."""
    key = AttemptLog(container(app).key_provider).username_key(username)
    with container(app).sessions() as db:
        rows = db.execute(
            select(LoginAttempt.outcome, LoginAttempt.reason, LoginAttempt.method)
            .where(LoginAttempt.username_key == key)
            .order_by(LoginAttempt.at)
        ).all()
    assert all(method == "staff" for _, _, method in rows)
    return [(outcome, reason) for outcome, reason, _ in rows]


def _wrong_code(staff: Staff) -> str:
    window = {staff.code(offset) for offset in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window)


def test_a_staff_member_logs_in_with_password_and_totp(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.zhao", "registrar", "cashier")
    client = app.test_client()
    status, body = login(client, staff.username, staff.password, staff.code())
    assert status == 200
    assert body == {
        "username": "reg.zhao",
        "kind": "staff",
        "roles": ["cashier", "registrar"],
        "methods": ["password", "totp"],
    }
    who = client.get("/api/v1/auth/session").get_json()
    assert who["username"] == "reg.zhao"
    assert who["methods"] == ["password", "totp"]
    assert attempts(app, "reg.zhao") == [("success", "ok")]


def test_the_failure_matrix_answers_one_generic_401_and_records_the_precise_reason(
    app: Flask,
) -> None:
    staff = enrolled_staff(app, "reg.qian")
    other = enrolled_staff(app, "reg.kong")
    with container(app).unit() as db:  # a staff account with no credential at all
        AccountService(container(app).passwords).create_staff(db, "reg.bare", PASSWORD, ["cashier"])
    pending = enrolled_staff(app, "reg.pending", confirm=False)
    disabled = enrolled_staff(app, "reg.gone")
    with container(app).unit() as db:
        AccountService(container(app).passwords).disable(db, "reg.gone")
    make_account(app, "citizen.sun", password=PASSWORD)  # a data subject, not staff

    cases = [
        ("wrong password", "reg.qian", "amber kettle river 9", staff.code(), "bad_password"),
        ("missing password", "reg.kong", "", other.code(), "bad_password"),
        ("wrong otp", "reg.qian", PASSWORD, _wrong_code(staff), "bad_otp"),
        ("missing otp", "reg.qian", PASSWORD, "", "bad_otp"),
        ("malformed otp", "reg.kong", PASSWORD, "12ab56", "bad_otp"),
        ("no totp", "reg.bare", PASSWORD, "123456", "no_totp"),
        ("unconfirmed totp", "reg.pending", PASSWORD, pending.code(), "no_totp"),
        ("subject account", "citizen.sun", PASSWORD, "123456", "wrong_kind"),
        ("disabled", "reg.gone", PASSWORD, disabled.code(), "disabled_account"),
        ("unknown", "nobody.here", PASSWORD, "123456", "unknown_account"),
    ]
    bodies = []
    for index, (label, username, password, otp, _) in enumerate(cases):
        client = app.test_client()
        status, body = login(client, username, password, otp, address=f"198.51.100.{index}")
        assert status == 401, label
        bodies.append(body)
        assert client.get("/api/v1/auth/session").status_code == 401, label
    assert all(body == LOGIN_FAILED for body in bodies)
    expected: dict[str, list[tuple[str, str]]] = {}
    for _, username, _, _, reason in cases:
        expected.setdefault(username, []).append(("failure", reason))
    for username, recorded in expected.items():
        assert attempts(app, username) == recorded, username
    # The right factors still work afterwards (nothing above consumed the step).
    assert login(app.test_client(), "reg.qian", PASSWORD, staff.code(), "192.0.2.99")[0] == 200


def test_a_replayed_otp_is_refused_even_with_the_right_password(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.sun")
    code = staff.code()
    assert login(app.test_client(), staff.username, staff.password, code)[0] == 200
    status, body = login(app.test_client(), staff.username, staff.password, code)
    assert (status, body) == (401, LOGIN_FAILED)
    assert attempts(app, staff.username) == [("success", "ok"), ("failure", "otp_replayed")]
    # The next step's code works.
    assert login(app.test_client(), staff.username, staff.password, staff.code(1))[0] == 200


def test_a_wrong_password_does_not_burn_the_users_code(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.li")
    code = staff.code()
    assert login(app.test_client(), staff.username, "amber kettle river 9", code)[0] == 401
    assert login(app.test_client(), staff.username, staff.password, code)[0] == 200


def test_login_replaces_the_callers_session_id(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.zhou")
    client, _ = logged_in(app, staff.account, frozenset({"password", "totp"}))
    before = client.get_cookie("__Host-cg_session")
    assert before is not None
    assert login(client, staff.username, staff.password, staff.code())[0] == 200
    after = client.get_cookie("__Host-cg_session")
    assert after is not None
    assert after.value != before.value
    # The old session is over: a client still holding the old cookie is logged out.
    stale = app.test_client()
    stale.set_cookie("__Host-cg_session", before.value)
    assert stale.get("/api/v1/auth/session").status_code == 401
    assert client.get("/api/v1/auth/session").status_code == 200


def test_five_failures_throttle_the_account_but_not_other_staff(app: Flask) -> None:
    victim = enrolled_staff(app, "reg.victim")
    bystander = enrolled_staff(app, "reg.bystander")
    for index in range(5):  # a distributed guesser: a new address every time
        status, _ = login(
            app.test_client(), "reg.victim", f"guess {index}", "0", f"203.0.113.{index}"
        )
        assert status == 401
    status, body = login(app.test_client(), "reg.victim", PASSWORD, victim.code(), "192.0.2.50")
    assert (status, body) == (429, THROTTLED)  # even the right factors wait
    assert attempts(app, "reg.victim")[-1] == ("throttled", "too_many_failures")
    # Another staff member logs in fine during the attack, even from an attacking address.
    status, _ = login(app.test_client(), "reg.bystander", PASSWORD, bystander.code(), "203.0.113.0")
    assert status == 200


def test_one_address_is_throttled_only_past_a_hall_sized_number_of_failures(
    app: Flask,
) -> None:
    honest = enrolled_staff(app, "reg.honest")
    for index in range(MAX_FAILURES + 1):  # colleagues behind one NAT address mistyping
        assert login(app.test_client(), f"ghost.{index}", PASSWORD, "0", "203.0.113.77")[0] == 401
    status, _ = login(app.test_client(), "reg.honest", PASSWORD, honest.code(-1), "203.0.113.77")
    assert status == 200
    log = AttemptLog(container(app).key_provider)
    with container(app).unit() as db:  # the rest of a hall-sized burst, recorded directly
        for index in range(MAX_FAILURES_PER_ADDRESS - MAX_FAILURES - 1):
            log.record(
                db,
                username_key=log.username_key(f"spray.{index}"),
                account_id=None,
                method=Method.STAFF,
                outcome=Outcome.FAILURE,
                reason=Reason.UNKNOWN_ACCOUNT,
                address="203.0.113.77",
            )
    status, body = login(app.test_client(), "reg.honest", PASSWORD, honest.code(), "203.0.113.77")
    assert (status, body) == (429, THROTTLED)
    status, _ = login(app.test_client(), "reg.honest", PASSWORD, honest.code(), "192.0.2.77")
    assert status == 200


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "not an object",
        ["a", "list"],
        {"password": PASSWORD, "otp": "123456"},
        {"username": "", "password": PASSWORD, "otp": "123456"},
        {"username": "bad name!", "password": PASSWORD, "otp": "123456"},
        {"username": "x" * 65, "password": PASSWORD, "otp": "123456"},
        {"username": "reg.bad", "password": 123, "otp": "123456"},
        {"username": "reg.bad", "password": PASSWORD, "otp": 123456},
        {"username": "reg.bad", "password": "p" * 1025, "otp": "123456"},
    ],
)
def test_malformed_requests_are_400_and_change_nothing(app: Flask, payload: object) -> None:
    enrolled_staff(app, "reg.bad")
    response = app.test_client().post(LOGIN, json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert attempts(app, "reg.bad") == []


def test_a_non_json_body_is_400(app: Flask) -> None:
    response = app.test_client().post(
        LOGIN, data="username=a&password=b", content_type="text/plain"
    )
    assert response.status_code == 400


def test_login_rehashes_a_password_hashed_under_old_parameters(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.xu")
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, type=Type.ID)
    with container(app).unit() as db:
        account = db.get(Account, staff.account.id)
        assert account is not None
        account.password_hash = older.hash(PASSWORD)
    assert login(app.test_client(), staff.username, PASSWORD, staff.code())[0] == 200
    with container(app).unit() as db:
        account = db.get(Account, staff.account.id)
        assert account is not None
        assert account.password_hash is not None
        assert "m=16,t=2,p=1" not in account.password_hash  # replaced by the current parameters
        assert not container(app).passwords.needs_rehash(account.password_hash)


def test_a_failed_login_does_not_rehash(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.wu")
    cheap_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with container(app).unit() as db:
        account = db.get(Account, staff.account.id)
        assert account is not None
        account.password_hash = cheap_hash
    assert login(app.test_client(), staff.username, PASSWORD, _wrong_code(staff))[0] == 401
    with container(app).unit() as db:
        account = db.get(Account, staff.account.id)
        assert account is not None
        assert account.password_hash == cheap_hash


def test_an_unknown_username_costs_what_a_known_one_costs(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both answers are dominated by one argon2id verification under the service's
    parameters; without the dummy check an unknown name would answer in a fraction of the
    time and so tell which usernames exist."""
    staff = enrolled_staff(app, "reg.timing")
    with container(app).sessions() as db:
        stored = db.scalars(select(Account.password_hash).where(Account.id == staff.account.id))
        service_parameters = extract_parameters(str(stored.one()))

    def verifications(username: str, address: str) -> list[Parameters]:
        with argon2_verifications(monkeypatch) as made:
            status, _ = login(
                app.test_client(), username, "amber kettle river 9", "123456", address
            )
        assert status == 401
        return made

    assert verifications("reg.timing", "10.9.1.1") == [service_parameters]
    assert verifications("ghost.1", "10.9.2.1") == [service_parameters]


# -- TOTP re-enrolment by a logged-in staff member --------------------------------------------


def test_enrolment_needs_a_session_a_csrf_token_staff_and_the_password(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.feng")
    assert app.test_client().post(ENROL, json={"password": PASSWORD}).status_code == 401
    client, csrf = logged_in(app, staff.account, frozenset({"password", "totp"}))
    assert client.post(ENROL, json={"password": PASSWORD}).status_code == 403  # no CSRF token
    refused = client.post(
        ENROL,
        json={"password": "amber kettle river 9", "otp": staff.code()},
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "password_refused"
    assert attempts(app, staff.username) == [("failure", "bad_password")]
    assert client.get("/api/v1/auth/session").status_code == 200  # still logged in
    weak, weak_csrf = logged_in(app, staff.account, frozenset({"password"}))
    assert (
        weak.post(ENROL, json={"password": PASSWORD}, headers={"X-CSRF-Token": weak_csrf})
    ).status_code == 403  # a session without TOTP may not replace the second factor
    subject = make_account(app, "citizen.chen", password=PASSWORD)
    subject_client, subject_csrf = logged_in(app, subject, frozenset({"password", "card"}))
    response = subject_client.post(
        ENROL, json={"password": PASSWORD}, headers={"X-CSRF-Token": subject_csrf}
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_re_enrolment_needs_a_current_code_or_the_card_and_is_a_security_event(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    staff = enrolled_staff(app, "reg.otp")
    client, csrf = logged_in(app, staff.account, frozenset({"password", "totp"}))
    for body in ({"password": PASSWORD}, {"password": PASSWORD, "otp": "000000"}):
        refused = client.post(ENROL, json=body, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "password_refused"
    assert attempts(app, staff.username)[-2:] == [("failure", "bad_otp"), ("failure", "bad_otp")]
    capsys.readouterr()
    carded, carded_csrf = logged_in(app, staff.account, frozenset({"password", "totp", "card"}))
    accepted = carded.post(
        ENROL, json={"password": PASSWORD}, headers={"X-CSRF-Token": carded_csrf}
    )
    assert accepted.status_code == 200
    events = [line for line in capsys.readouterr().out.splitlines() if "totp.reenrolled" in line]
    assert len(events) == 1
    assert "reg.otp" in events[0]
    assert PASSWORD not in events[0]


def test_re_enrolment_ends_other_sessions_and_confirms_a_new_secret(app: Flask) -> None:
    staff = enrolled_staff(app, "reg.han")
    client, csrf = logged_in(app, staff.account, frozenset({"password", "totp"}))
    elsewhere, _ = logged_in(app, staff.account, frozenset({"password", "totp"}))
    response = client.post(  # the previous step: the steps used are the account's, in order
        ENROL, json={"password": PASSWORD, "otp": staff.code(-1)}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["otpauth_uri"].startswith("otpauth://totp/CreditGate:reg.han?")
    assert body["qr_svg"].startswith("<svg")
    new_secret = _secret(body["otpauth_uri"])
    assert new_secret != staff.secret
    assert elsewhere.get("/api/v1/auth/session").status_code == 401  # factor changed
    assert client.get("/api/v1/auth/session").status_code == 200  # the caller continues
    new_csrf = body["csrf_token"]
    assert new_csrf != csrf
    # Until confirmed, nobody can log in with either secret.
    pending = Staff(staff.account, staff.username, PASSWORD, new_secret)
    assert login(app.test_client(), staff.username, PASSWORD, pending.code())[0] == 401
    assert login(app.test_client(), staff.username, PASSWORD, staff.code(), "192.0.2.7")[0] == 401
    wrong = client.post(
        CONFIRM, json={"code": _wrong_code(pending)}, headers={"X-CSRF-Token": new_csrf}
    )
    assert wrong.status_code == 400
    confirmed = client.post(
        CONFIRM, json={"code": pending.code()}, headers={"X-CSRF-Token": new_csrf}
    )
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "confirmed"
    again = client.post(
        CONFIRM,
        json={"code": pending.code()},
        headers={"X-CSRF-Token": confirmed.get_json()["csrf_token"]},
    )
    assert again.status_code == 409
    assert (
        login(app.test_client(), staff.username, PASSWORD, pending.code(1), "192.0.2.8")[0] == 200
    )


def test_logs_at_debug_never_hold_a_password_code_secret_or_session_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff = enrolled_staff(app, "reg.log")
    client = app.test_client()
    codes = [staff.code(), _wrong_code(staff)]
    login(client, staff.username, "amber kettle river 9", codes[0], "192.0.2.20")
    login(client, staff.username, PASSWORD, codes[1], "192.0.2.21")
    assert login(client, staff.username, PASSWORD, codes[0], "192.0.2.22")[0] == 200
    cookie = client.get_cookie("__Host-cg_session")
    assert cookie is not None
    token = app.session_interface.get_signing_serializer(app).loads(cookie.value)["_user_id"]  # type: ignore[attr-defined]
    csrf = client.get("/api/v1/auth/session").get_json()["csrf_token"]
    enrolment = client.post(
        ENROL, json={"password": PASSWORD, "otp": staff.code(1)}, headers={"X-CSRF-Token": csrf}
    )
    new_secret = _secret(enrolment.get_json()["otpauth_uri"])
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in (PASSWORD, "amber kettle river 9", *codes, staff.secret, new_secret, token):
        assert secret not in logged
