"""Staff accounts: creation rules, roles and separation of duties (also under a concurrent double
grant on a real committed database), disabling and password changes ending sessions, re-hashing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from click.testing import Result
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.container import container
from app.db import make_engine, make_session_factory
from app.migrate import upgrade
from app.models import Account, AccountRole
from app.services.auth.accounts import (
    AccountError,
    AccountService,
    SeparationOfDutiesError,
    role_conflict,
    valid_username,
)
from app.services.auth.password_policy import PasswordRejected
from app.services.auth.passwords import FAST, STANDARD, PasswordHashing
from app.settings import Mode, SettingsError
from crypto.keys import KeyProvider
from tests.conftest import BACKENDS, ScratchDatabase, make_app, make_settings
from tests.logins import logged_in, make_account
from tests.web.review_helpers import found, officer

PASSWORD = "violet tram ledger 47"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)


def _create(app: Flask, username: str, *roles: str) -> Account:
    with container(app).unit() as db:
        return AccountService(container(app).passwords).create_staff(
            db, username, PASSWORD, roles or ("registrar",)
        )


def _roles(app: Flask, account: Account) -> frozenset[str]:
    with container(app).unit() as db:
        return AccountService(container(app).passwords).roles(db, account.id)


def test_a_staff_account_is_created_with_an_argon2id_hash_and_its_roles(app: Flask) -> None:
    account = _create(app, "  Zhang.Wei ", "registrar", "cashier")
    assert account.username == "zhang.wei"
    assert account.kind == "staff"
    assert account.status == "active"
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert container(app).passwords.verify(account.password_hash, PASSWORD)
    assert _roles(app, account) == {"registrar", "cashier"}


@pytest.mark.parametrize(
    "username", ["ab", "x" * 65, "zhang wei", "张伟", "zhang@wei", "", "a/b", "zhang.wei!"]
)
def test_usernames_break_the_rules_are_refused(username: str) -> None:
    with pytest.raises(AccountError, match="3 to 64 characters"):
        valid_username(username)


def test_usernames_that_keep_the_rules_pass() -> None:
    names = ("abc", "x" * 64, "li_na-2.ops", "007")  # 3 and 64 characters are the bounds
    assert [valid_username(name) for name in names] == list(names)


def test_creation_refuses_a_weak_password_a_taken_name_and_no_or_unknown_roles(
    app: Flask,
) -> None:
    service = AccountService(container(app).passwords)
    with container(app).unit() as db:
        with pytest.raises(PasswordRejected):
            service.create_staff(db, "li.na", "short", ["registrar"])
        with pytest.raises(PasswordRejected):
            service.create_staff(db, "li.na", "li.na violet tram 47", ["registrar"])
        with pytest.raises(AccountError, match="at least one role"):
            service.create_staff(db, "li.na", PASSWORD, [])
        with pytest.raises(AccountError, match="Unknown role"):
            service.create_staff(db, "li.na", PASSWORD, ["root"])
        service.create_staff(db, "li.na", PASSWORD, ["registrar"])
        with pytest.raises(AccountError, match="taken"):
            service.create_staff(db, "LI.NA", PASSWORD, ["cashier"])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("admin", "compliance"),
        ("compliance", "admin"),
        ("key_custodian", "compliance"),
        ("compliance", "key_custodian"),
    ],
)
def test_compliance_never_joins_an_admin_role_in_either_order(
    app: Flask, first: str, second: str
) -> None:
    account = _create(app, "officer.he", first)
    with container(app).unit() as db, pytest.raises(SeparationOfDutiesError) as caught:
        AccountService(container(app).passwords).grant_role(db, "officer.he", second)
    assert "Separation of duties" in str(caught.value)
    assert _roles(app, account) == {first}


def test_compliance_and_admin_cannot_be_created_together(app: Flask) -> None:
    with container(app).unit() as db, pytest.raises(SeparationOfDutiesError):
        AccountService(container(app).passwords).create_staff(
            db, "both.roles", PASSWORD, ["admin", "compliance"]
        )
    assert role_conflict(["admin", "registrar", "cashier", "key_custodian"]) is None
    assert role_conflict(["compliance", "registrar", "cashier"]) is None


def test_grant_and_revoke(app: Flask) -> None:
    account = _create(app, "ops.gao", "registrar")
    service = AccountService(container(app).passwords)
    with container(app).unit() as db:
        assert service.grant_role(db, "ops.gao", "cashier") is True
        assert service.grant_role(db, "ops.gao", "cashier") is False
        assert service.revoke_role(db, "ops.gao", "registrar") is True
        assert service.revoke_role(db, "ops.gao", "registrar") is False
    assert _roles(app, account) == {"cashier"}
    # Once admin is revoked, compliance may be granted.
    with container(app).unit() as db:
        service.grant_role(db, "ops.gao", "admin")
        service.revoke_role(db, "ops.gao", "admin")
        service.grant_role(db, "ops.gao", "compliance")
    assert _roles(app, account) == {"cashier", "compliance"}


def test_roles_are_for_existing_staff_accounts_only(app: Flask) -> None:
    make_account(app, "citizen.liu")
    with container(app).unit() as db:
        with pytest.raises(AccountError, match="staff accounts only"):
            AccountService(container(app).passwords).grant_role(db, "citizen.liu", "registrar")
        with pytest.raises(AccountError, match="No account"):
            AccountService(container(app).passwords).grant_role(db, "nobody.here", "registrar")


def test_disabling_ends_every_session_of_the_account_only(app: Flask) -> None:
    account = _create(app, "reg.ma")
    first, _ = logged_in(app, account, frozenset({"password", "totp"}))
    second, _ = logged_in(app, account, frozenset({"password", "totp"}))
    other, _ = logged_in(app, _create(app, "reg.niu"), frozenset({"password", "totp"}))
    with container(app).unit() as db:
        assert AccountService(container(app).passwords).disable(db, "reg.ma") == 2
    assert first.get("/api/v1/auth/session").status_code == 401
    assert second.get("/api/v1/auth/session").status_code == 401
    assert other.get("/api/v1/auth/session").status_code == 200
    with container(app).unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert stored.status == "disabled"
        assert stored.disabled_at is not None


def test_changing_the_password_checks_the_policy_and_ends_every_session(app: Flask) -> None:
    account = _create(app, "reg.yang")
    client, _ = logged_in(app, account, frozenset({"password", "totp"}))
    service = AccountService(container(app).passwords)
    with container(app).unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        with pytest.raises(PasswordRejected):
            service.change_password(db, stored, "password1234")
    assert client.get("/api/v1/auth/session").status_code == 200
    with container(app).unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert service.change_password(db, stored, "amber kettle river 9") == 1
    assert client.get("/api/v1/auth/session").status_code == 401
    with container(app).unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert service.password_matches(stored, "amber kettle river 9")
        assert not service.password_matches(stored, PASSWORD)


def test_the_service_hashes_under_rfc_9106_and_replaces_older_hashes(
    database_url: str, key_provider: KeyProvider, tmp_path: Path
) -> None:
    """The one test on the production parameters (the suite hashes with `FAST`): a new hash
    is argon2id m=64 MiB, t=3, p=4, and a hash under other parameters is replaced at the next
    verified login."""
    app = make_app(
        make_settings(database_url, tmp_path, password_hashing="standard"),
        key_provider=key_provider,
    )
    parts = container(app)
    assert parts.passwords is STANDARD
    service = AccountService(parts.passwords)
    account = _create(app, "reg.xu")
    with parts.unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert "$argon2id$v=19$m=65536,t=3,p=4$" in (stored.password_hash or "")
        stored.password_hash = CHEAP.hash(PASSWORD)
    with parts.unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert stored.password_hash is not None
        assert STANDARD.needs_rehash(stored.password_hash)
        assert service.password_matches(stored, PASSWORD)
        assert service.rehash_if_needed(db, stored, PASSWORD) is True
        assert service.rehash_if_needed(db, stored, PASSWORD) is False
    with parts.unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert stored.password_hash is not None
        assert not STANDARD.needs_rehash(stored.password_hash)
        assert "m=65536,t=3,p=4" in stored.password_hash
        assert STANDARD.verify(stored.password_hash, PASSWORD)
    # The hook works the other way too: a service on new parameters upgrades today's hashes.
    stronger = PasswordHashing(
        PasswordHasher(time_cost=4, memory_cost=64 * 1024, parallelism=4, type=Type.ID)
    )
    with parts.unit() as db:
        stored = db.get(Account, account.id)
        assert stored is not None
        assert AccountService(stronger).rehash_if_needed(db, stored, PASSWORD) is True
        assert "t=4" in (stored.password_hash or "")
    parts.engine.dispose()


def test_fast_hashing_is_refused_outside_the_test_suite(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="test suite only"):
        make_settings("sqlite://", tmp_path, mode=Mode.DEVELOPMENT, password_hashing="fast")


def test_listing_shows_roles_and_totp_state(app: Flask) -> None:
    _create(app, "list.a", "cashier", "registrar")
    make_account(app, "list.citizen")
    with container(app).unit() as db:
        staff = {
            row.username: row
            for row in AccountService(container(app).passwords).list_accounts(db, "staff")
        }
        everyone = {
            row.username for row in AccountService(container(app).passwords).list_accounts(db)
        }
    assert staff["list.a"].roles == ("cashier", "registrar")
    assert staff["list.a"].totp == "none"
    assert "list.citizen" not in staff
    assert "list.citizen" in everyone


ROUNDS = 5
GRANTERS = 8  # half grant admin, half compliance, all at once


def _grant_in_race(
    sessions: sessionmaker[Session],
    username: str,
    role: str,
    barrier: threading.Barrier,
    outcomes: list[str],
) -> None:
    with sessions() as db:
        try:
            with db.begin():
                db.connection()  # every transaction is open before anyone goes
                barrier.wait(timeout=30)
                changed = AccountService(FAST).grant_role(db, username, role)
            outcome = f"granted {role}" if changed else f"already held {role}"
        except SeparationOfDutiesError:
            outcome = "refused"
    outcomes.append(outcome)  # list.append is atomic


@pytest.mark.slow
@pytest.mark.parametrize("scratch_database", BACKENDS, indirect=True)
def test_concurrent_grants_of_admin_and_compliance_never_both_commit(
    scratch_database: ScratchDatabase, key_provider: KeyProvider, tmp_path: Path
) -> None:
    upgrade(scratch_database.url)
    app = make_app(make_settings(scratch_database.url, tmp_path), key_provider=key_provider)
    engine = make_engine(scratch_database.url, pool_size=GRANTERS, max_overflow=0)
    sessions = make_session_factory(engine)
    for round_number in range(ROUNDS):
        username = f"race.{round_number}"
        account = _create(app, username, "registrar")
        barrier = threading.Barrier(GRANTERS)
        outcomes: list[str] = []
        threads = [
            threading.Thread(
                target=_grant_in_race,
                args=(sessions, username, "admin" if n % 2 else "compliance", barrier, outcomes),
            )
            for n in range(GRANTERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(outcomes) == GRANTERS, f"a granter crashed: {outcomes}"
        granted = [outcome for outcome in outcomes if outcome.startswith("granted")]
        assert len(granted) == 1, outcomes  # exactly one grant changed anything
        winner = granted[0].removeprefix("granted ")
        # Every granter of the other role was refused; the winner's peers found it held.
        assert outcomes.count("refused") == GRANTERS // 2, outcomes
        assert outcomes.count(f"already held {winner}") == GRANTERS // 2 - 1, outcomes
        with sessions() as db:
            query = select(AccountRole.role).where(AccountRole.account_id == account.id)
            roles = set(db.scalars(query))
        assert roles == {"registrar", winner}
    engine.dispose()
    container(app).engine.dispose()


# -- the `flask accounts` commands -------------------------------------------------------------


def _cli(
    app: Flask, tmp_path: Path, command: str, *, password: str | None = PASSWORD, code: str = ""
) -> Result:
    """Run `flask accounts COMMAND`; the new password comes from a file named in the env."""
    env: dict[str, str | None] = {"CREDITGATE_NEW_PASSWORD_FILE": None}
    if password is not None:
        secret_file = tmp_path / "new-password"
        secret_file.write_text(password + "\n", encoding="utf-8")
        env["CREDITGATE_NEW_PASSWORD_FILE"] = str(secret_file)
    args = ["accounts", *command.split()]
    return app.test_cli_runner().invoke(args=args, env=env, input=code + "\n")


def test_cli_creates_staff_enrols_totp_and_confirms_it_later(app: Flask, tmp_path: Path) -> None:
    qr = tmp_path / "qr.svg"
    command = f"create-staff --username Ops.Wang --role registrar --role cashier --qr-out {qr}"
    result = _cli(app, tmp_path, command)
    assert result.exit_code == 0, result.output
    assert "Created staff account ops.wang with roles: cashier, registrar." in result.output
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth://"))
    assert uri.startswith("otpauth://totp/CreditGate:ops.wang?")
    assert qr.read_text(encoding="utf-8").startswith("<svg")
    assert qr.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in result.output
    assert "TOTP left pending" in result.output
    listed = _cli(app, tmp_path, "list").output
    assert "ops.wang\tstaff\tactive\ttotp=pending\tcashier,registrar" in listed
    generator = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    window = {generator.at(time.time() + 30 * offset) for offset in (-1, 0, 1)}
    wrong_code = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window)
    # A wrong code is refused and asked again; an empty answer leaves it pending.
    wrong = _cli(app, tmp_path, "confirm-totp --username ops.wang", code=wrong_code + "\n")
    assert "The code was not accepted (bad_otp)." in wrong.output
    assert "TOTP left pending" in wrong.output
    good = _cli(app, tmp_path, "confirm-totp --username ops.wang", code=generator.now())
    assert good.exit_code == 0, good.output
    assert "TOTP confirmed for ops.wang." in good.output
    assert "totp=confirmed" in _cli(app, tmp_path, "list").output
    reset = _cli(app, tmp_path, "reset-totp --username ops.wang")  # a lost phone
    assert reset.exit_code == 0, reset.output
    assert "otpauth://totp/CreditGate:ops.wang?" in reset.output
    assert uri not in reset.output
    assert "totp=pending" in _cli(app, tmp_path, "list").output
    # the new staff member and their roles are an entry an officer finds
    (created,) = found(officer(app), action="operator:staff:create")
    assert (created["decision"], created["reason"]) == ("allowed", "created_with_cashier_registrar")


def test_cli_refuses_weak_passwords_conflicting_roles_and_existing_qr_files(
    app: Flask, tmp_path: Path
) -> None:
    create = "create-staff --username ops.li --role registrar"
    weak = _cli(app, tmp_path, create, password="password1234")
    assert weak.exit_code != 0
    assert "common or breached" in weak.output
    assert "password1234" not in weak.output
    both = _cli(app, tmp_path, "create-staff --username ops.li --role admin --role compliance")
    assert both.exit_code != 0
    assert "Separation of duties" in both.output
    taken = tmp_path / "taken.svg"
    taken.write_text("x", encoding="utf-8")
    exists = _cli(app, tmp_path, f"{create} --qr-out {taken}")
    assert exists.exit_code != 0
    assert "exists" in exists.output
    refused = found(officer(app), action="operator:staff:create")  # each refusal is an entry
    assert [(e["decision"], e["reason"]) for e in refused] == [("denied", "bad_request")] * 3
    with container(app).unit() as db:
        assert AccountService(container(app).passwords).find(db, "ops.li") is None
    no_option = _cli(app, tmp_path, f"{create} --password {PASSWORD.replace(' ', '-')}")
    assert no_option.exit_code == 2  # there is no password option
    assert "No such option" in no_option.output


def test_cli_roles_disable_and_set_password(app: Flask, tmp_path: Path) -> None:
    account = _create(app, "ops.zhao", "registrar")
    client, _ = logged_in(app, account, frozenset({"password", "totp"}))
    granted = _cli(app, tmp_path, "grant-role --username ops.zhao --role admin")
    assert "Granted admin to ops.zhao." in granted.output
    refused = _cli(app, tmp_path, "grant-role --username ops.zhao --role compliance")
    assert refused.exit_code != 0
    assert "Separation of duties" in refused.output
    revoked = _cli(app, tmp_path, "revoke-role --username ops.zhao --role admin")
    assert "Revoked admin from ops.zhao." in revoked.output
    changed = _cli(
        app, tmp_path, "set-password --username ops.zhao", password="amber kettle river 9"
    )
    assert changed.exit_code == 0, changed.output
    assert "ended 1 live session(s)" in changed.output
    assert client.get("/api/v1/auth/session").status_code == 401
    client, _ = logged_in(app, account, frozenset({"password", "totp"}))
    disabled = _cli(app, tmp_path, "disable --username ops.zhao --yes")
    assert disabled.exit_code == 0, disabled.output
    assert "Disabled ops.zhao; ended 1 live session(s)." in disabled.output
    assert client.get("/api/v1/auth/session").status_code == 401
    assert "ops.zhao\tstaff\tdisabled" in _cli(app, tmp_path, "list").output


def test_cli_prompts_for_the_password_twice_hidden_until_it_is_acceptable(
    app: Flask, tmp_path: Path
) -> None:
    typed = f"short\nshort\n{PASSWORD}\n{PASSWORD}\n"  # then an empty TOTP code
    result = _cli(
        app, tmp_path, "create-staff --username ops.qin --role cashier", password=None, code=typed
    )
    assert result.exit_code == 0, result.output
    assert "Choose a password of at least 12 characters." in result.output
    assert "Created staff account ops.qin" in result.output
    assert PASSWORD not in result.output
    with container(app).unit() as db:
        account = AccountService(container(app).passwords).find(db, "ops.qin")
        assert account is not None
        assert AccountService(container(app).passwords).password_matches(account, PASSWORD)
