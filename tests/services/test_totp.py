"""TOTP: enrolment (URI, QR, sealed secret), the ±1 step window, replay refusal, and the
50-way concurrent race on a real committed database (exactly one success), on both backends."""

from __future__ import annotations

import base64
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from flask import Flask
from sqlalchemy import LargeBinary, func, select, type_coerce
from sqlalchemy.exc import OperationalError

from app.container import container
from app.db import WRITE_INTENT, make_engine, make_session_factory
from app.migrate import upgrade
from app.models import Account, TotpCredential, TotpUsedStep
from app.services.auth.accounts import AccountService
from app.services.auth.login_attempts import Reason
from app.services.auth.totp import TotpError, TotpService, TotpStatus, qr_svg
from crypto.keys import KeyProvider
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.logins import logged_in, make_account

PASSWORD = "violet tram ledger 47"
NOW = 1_900_000_020.0  # a fixed instant, 20 s into step 63_333_334
STEP = int(NOW // 30)


def _service(app: Flask) -> TotpService:
    parts = container(app)
    return TotpService(parts.keys, parts.cipher)


def _secret(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def _code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def _wrong_code(secret: str) -> str:
    """A well-formed code that matches no step of the window around NOW."""
    window = {_code(secret, step) for step in range(STEP - 1, STEP + 2)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window)


def _staff(app: Flask, username: str, *, confirm_at: float = NOW - 300) -> tuple[Account, str]:
    """A staff account with a confirmed credential (confirmed with a code of `confirm_at`)."""
    totp = _service(app)
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).create_staff(
            db, username, PASSWORD, ["registrar"]
        )
        secret = _secret(totp.enrol(db, account).otpauth_uri)
    with container(app).unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        step = int(confirm_at // 30)
        assert totp.confirm(db, stored, _code(secret, step), now=confirm_at) is None
    return stored, secret


def _verify(app: Flask, account: Account, code: str, now: float = NOW) -> Reason | None:
    with container(app).unit() as db:
        return _service(app).verify(db, account, code, now=now)


def test_enrolment_gives_an_issuer_labelled_uri_and_a_qr_of_exactly_that_uri(app: Flask) -> None:
    totp = _service(app)
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).create_staff(
            db, "reg.zhao", PASSWORD, ["registrar"]
        )
        enrolment = totp.enrol(db, account)
        assert totp.status(db, account.id) is TotpStatus.PENDING
    uri = urlparse(enrolment.otpauth_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/CreditGate:reg.zhao"
    query = parse_qs(uri.query)
    assert query["issuer"] == ["CreditGate"]
    secret = query["secret"][0]
    assert len(secret) == 32  # base32: 160 bits
    assert len(base64.b32decode(secret)) == 20
    root = ET.fromstring(enrolment.qr_svg)  # noqa: S314 - our own output, not untrusted
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert enrolment.qr_svg == qr_svg(enrolment.otpauth_uri)  # the QR encodes that URI
    assert secret not in repr(enrolment)
    # Each enrolment has its own secret.
    with container(app).unit() as db:
        again = totp.enrol(db, db.get(Account, account.id))  # type: ignore[arg-type]
    assert _secret(again.otpauth_uri) != secret


def test_the_secret_is_stored_sealed_not_in_clear(app: Flask) -> None:
    totp = _service(app)
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).create_staff(
            db, "reg.qian", PASSWORD, ["registrar"]
        )
        secret = _secret(totp.enrol(db, account).otpauth_uri)
    with container(app).unit() as db:
        column = TotpCredential.__table__.c.secret
        raw = db.execute(
            select(type_coerce(column, LargeBinary())).where(
                TotpCredential.account_id == account.id
            )
        ).scalar_one()
        credential = db.scalar(
            select(TotpCredential).where(TotpCredential.account_id == account.id)
        )
        assert credential is not None
        opened = credential.unseal("secret", container(app).cipher)
    stored = bytes(raw)
    assert secret.encode() not in stored
    assert base64.b32decode(secret) not in stored
    assert secret.lower().encode() not in stored.lower()
    assert opened == secret


def test_an_unconfirmed_credential_is_refused_until_confirmed(app: Flask) -> None:
    totp = _service(app)
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).create_staff(
            db, "reg.sun", PASSWORD, ["registrar"]
        )
        secret = _secret(totp.enrol(db, account).otpauth_uri)
    assert _verify(app, account, _code(secret, STEP)) is Reason.NO_TOTP
    with container(app).unit() as db:
        assert totp.confirm(db, account, _wrong_code(secret), now=NOW) is Reason.BAD_OTP
        assert totp.status(db, account.id) is TotpStatus.PENDING
        assert totp.confirm(db, account, _code(secret, STEP - 1), now=NOW) is None
        assert totp.status(db, account.id) is TotpStatus.CONFIRMED
        # Nothing is pending any more: confirming again is refused.
        assert totp.confirm(db, account, _code(secret, STEP + 1), now=NOW) is Reason.NO_TOTP
    assert _verify(app, account, _code(secret, STEP)) is None


def test_plus_minus_one_step_is_accepted_and_two_steps_are_refused(app: Flask) -> None:
    early, early_secret = _staff(app, "reg.early")
    late, late_secret = _staff(app, "reg.late")
    same, same_secret = _staff(app, "reg.same")
    for account, secret in ((early, early_secret), (late, late_secret)):
        assert _verify(app, account, _code(secret, STEP - 2)) is Reason.BAD_OTP
        assert _verify(app, account, _code(secret, STEP + 2)) is Reason.BAD_OTP
    assert _verify(app, early, _code(early_secret, STEP - 1)) is None
    assert _verify(app, late, _code(late_secret, STEP + 1)) is None
    assert _verify(app, same, _code(same_secret, STEP)) is None


def test_a_used_step_is_refused_again_and_so_is_an_older_one(app: Flask) -> None:
    account, secret = _staff(app, "reg.zhou")
    assert _verify(app, account, _code(secret, STEP)) is None
    assert _verify(app, account, _code(secret, STEP)) is Reason.OTP_REPLAYED
    assert _verify(app, account, _code(secret, STEP), now=NOW + 30) is Reason.OTP_REPLAYED
    # A code from the previous step is still inside the window, but older than the one used.
    assert _verify(app, account, _code(secret, STEP - 1)) is Reason.OTP_REPLAYED
    assert _verify(app, account, _code(secret, STEP + 1)) is None
    # Steps outside any window are pruned; the latest one is kept.
    with container(app).unit() as db:
        steps = set(
            db.scalars(select(TotpUsedStep.step).where(TotpUsedStep.account_id == account.id))
        )
    assert steps == {STEP + 1}


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12345a", "１２３４５６"])
def test_malformed_codes_are_bad_otp(app: Flask, code: str) -> None:
    account, _ = _staff(app, "reg.wu")
    assert _verify(app, account, code) is Reason.BAD_OTP


def test_a_code_typed_with_a_space_is_accepted(app: Flask) -> None:
    account, secret = _staff(app, "reg.zheng")
    code = _code(secret, STEP)
    assert _verify(app, account, f"{code[:3]} {code[3:]}") is None


def test_accounts_without_totp_or_of_another_kind(app: Flask) -> None:
    subject = make_account(app, "citizen.wang")
    staff = make_account(app, "staff.nototp", kind="staff", roles=("cashier",))
    assert _verify(app, staff, "123456") is Reason.NO_TOTP
    with container(app).unit() as db, pytest.raises(TotpError):
        _service(app).enrol(db, db.get(Account, subject.id))  # type: ignore[arg-type]


def test_re_enrolling_ends_every_session_and_retires_the_old_secret(app: Flask) -> None:
    account, old_secret = _staff(app, "reg.feng")
    first, _ = logged_in(app, account, frozenset({"password", "totp"}))
    second, _ = logged_in(app, account, frozenset({"password", "totp"}))
    bystander = make_account(app, "reg.other", kind="staff", roles=("cashier",))
    other, _ = logged_in(app, bystander, frozenset({"password", "totp"}))
    with container(app).unit() as db:
        enrolment = _service(app).enrol(db, db.get(Account, account.id))  # type: ignore[arg-type]
    assert first.get("/api/v1/auth/session").status_code == 401
    assert second.get("/api/v1/auth/session").status_code == 401
    assert other.get("/api/v1/auth/session").status_code == 200
    assert _verify(app, account, _code(old_secret, STEP)) is Reason.NO_TOTP  # pending now
    new_secret = _secret(enrolment.otpauth_uri)
    with container(app).unit() as db:
        assert (
            _service(app).confirm(db, account, _code(old_secret, STEP), now=NOW) is Reason.BAD_OTP
        )
        assert _service(app).confirm(db, account, _code(new_secret, STEP), now=NOW) is None
    # The step that confirmed cannot log in again; the next one can.
    assert _verify(app, account, _code(new_secret, STEP)) is Reason.OTP_REPLAYED
    assert _verify(app, account, _code(new_secret, STEP + 1)) is None


RACERS = 50


@pytest.mark.slow
@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_fifty_concurrent_uses_of_one_code_let_exactly_one_through(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> None:
    upgrade(scratch_database.url)
    app = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    account, secret = _staff(app, "reg.race")
    totp = _service(app)
    code = _code(secret, STEP)
    # A pool as large as the race, so that all 50 transactions really are open at once.
    engine = make_engine(scratch_database.url, pool_size=RACERS, max_overflow=0)
    sessions = make_session_factory(engine)
    barrier = threading.Barrier(RACERS)
    results: list[Reason | str | None] = []
    lock = threading.Lock()

    def race() -> None:
        outcome: Reason | str | None
        with sessions() as db:
            try:
                if scratch_database.backend == "postgresql":
                    with db.begin():
                        db.connection()  # the transaction is open before anyone goes
                        racer = db.get(Account, account.id)
                        assert racer is not None
                        barrier.wait(timeout=60)
                        outcome = totp.verify(db, racer, code, now=NOW)
                else:
                    # SQLite: as on the web path, a unit of work takes the write lock at BEGIN
                    # (IMMEDIATE), so all 50 start together and queue on the lock.
                    barrier.wait(timeout=60)
                    db.connection(execution_options={WRITE_INTENT: True})
                    racer = db.get(Account, account.id)
                    assert racer is not None
                    outcome = totp.verify(db, racer, code, now=NOW)
                    db.commit()
            except OperationalError as exc:
                outcome = f"db-error: {exc.orig}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert len(results) == RACERS, f"{RACERS - len(results)} racers crashed"
    assert results.count(None) == 1, results
    losers = [result for result in results if result is not None]
    # PostgreSQL: the losers wait on the winner's key, then see it. SQLite: they queue on the
    # write lock, then see it. Either way every loser is a clean replay refusal.
    assert losers == [Reason.OTP_REPLAYED] * (RACERS - 1)
    with sessions() as db:
        used = db.scalar(
            select(func.count())
            .select_from(TotpUsedStep)
            .where(TotpUsedStep.account_id == account.id, TotpUsedStep.step == STEP)
        )
    assert used == 1
    assert time.monotonic() - started < 120
    engine.dispose()
    container(app).engine.dispose()


def test_a_check_for_an_unknown_account_says_no_totp_and_cannot_be_consumed(app: Flask) -> None:
    with container(app).unit() as db:
        checked = _service(app).check(db, None, "123456", now=NOW)
        assert checked.reason is Reason.NO_TOTP
        assert checked.steps == ()
        with pytest.raises(ValueError, match="only a matching check"):
            _service(app).consume(db, checked)
