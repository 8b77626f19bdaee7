"""Settings: production refuses to start without its secrets; secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Mode, Settings, SettingsError, Side

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture(autouse=True)
def pin_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pin"
    path.write_text("1357-test-pin\n")
    monkeypatch.setenv("CG_TEST_PIN_FILE", str(path))
    notify = tmp_path / "notify-key"
    notify.write_text("n" * 40 + "\n")
    monkeypatch.setenv("CG_TEST_NOTIFY_KEY_FILE", str(notify))
    return path


def _production(**extra: str) -> dict[str, str]:
    import os

    env = {
        "CREDITGATE_MODE": "production",
        "CREDITGATE_SECRET_KEY": "s" * 40,
        "CREDITGATE_DATABASE_URL": "postgresql://creditgate_app:hunter2@db.internal/creditgate?sslmode=verify-full",
        "CREDITGATE_PKCS11_MODULE": MODULE,
        "CREDITGATE_TOKEN_LABEL": "prod-token",
        "CREDITGATE_PIN_FILE": os.environ["CG_TEST_PIN_FILE"],
        "CREDITGATE_PAYMENT_NOTIFY_KEY_FILE": os.environ["CG_TEST_NOTIFY_KEY_FILE"],
        "CREDITGATE_PUBLIC_URL": "https://creditgate.example.gov.cn",
        "CREDITGATE_TRUSTED_PROXIES": "127.0.0.1/32",
        "CREDITGATE_SIDE": "portal",
    }
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("CREDITGATE_SECRET_KEY", "CREDITGATE_SECRET_KEY"),
        ("CREDITGATE_PKCS11_MODULE", "PKCS#11 module path"),
        ("CREDITGATE_TOKEN_LABEL", "token label"),
        ("CREDITGATE_PIN_FILE", "PIN source"),
        ("CREDITGATE_DATABASE_URL", "database URL"),
        ("CREDITGATE_PAYMENT_NOTIFY_KEY_FILE", "notification key file"),
        ("CREDITGATE_PUBLIC_URL", "CREDITGATE_PUBLIC_URL"),
        ("CREDITGATE_TRUSTED_PROXIES", "TLS proxy"),
        ("CREDITGATE_SIDE", "registry or portal"),
    ],
)
def test_production_refuses_to_start_naming_what_is_missing(missing: str, named: str) -> None:
    env = _production()
    del env[missing]
    with pytest.raises(SettingsError, match="refuses to start") as info:
        Settings.from_env(env)
    assert named in str(info.value)


def test_production_names_every_missing_item_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"CREDITGATE_MODE": "production"})
    message = str(info.value)
    for name in ("SECRET_KEY", "PKCS11_MODULE", "TOKEN_LABEL", "PIN_FILE", "DATABASE_URL"):
        assert name in message


def test_production_refuses_a_module_path_that_does_not_exist() -> None:
    with pytest.raises(SettingsError, match=r"no such file /nope/lib\.so"):
        Settings.from_env(_production(CREDITGATE_PKCS11_MODULE="/nope/lib.so"))


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env(_production(CREDITGATE_SECRET_KEY="short"))


def test_production_accepts_a_pin_from_the_environment() -> None:
    env = _production(CREDITGATE_PIN="4711-pin")
    del env["CREDITGATE_PIN_FILE"]
    settings = Settings.from_env(env)
    assert settings.mode is Mode.PRODUCTION
    assert settings.read_pin() == "4711-pin"


def test_secrets_never_appear_in_repr_or_describe(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("8642-secret-pin\n")
    settings = Settings.from_env(_production(CREDITGATE_PIN_FILE=str(pin_file)))
    shown = repr(settings) + repr(settings.describe())
    assert "s" * 40 not in shown
    assert "8642-secret-pin" not in shown
    assert "hunter2" not in shown
    assert settings.read_pin() == "8642-secret-pin"


def test_production_refuses_to_start_with_an_unreadable_pin_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read the PIN file"):
        Settings.from_env(_production(CREDITGATE_PIN_FILE=str(tmp_path / "absent")))


def test_production_refuses_to_start_with_an_empty_pin_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        Settings.from_env(_production(CREDITGATE_PIN_FILE=str(empty)))


def test_development_creates_a_random_secret_once_and_reuses_it(tmp_path: Path) -> None:
    env = {"CREDITGATE_VAR_DIR": str(tmp_path)}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 48
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600
    other = Settings.from_env({"CREDITGATE_VAR_DIR": str(tmp_path / "elsewhere")})
    assert other.secret_key != first.secret_key


def test_development_serves_both_sides_and_production_refuses_to(tmp_path: Path) -> None:
    assert Settings.from_env({"CREDITGATE_VAR_DIR": str(tmp_path)}).side is Side.COMBINED
    with pytest.raises(SettingsError, match="development only"):
        Settings.from_env(_production(CREDITGATE_SIDE="combined"))
    assert Settings.from_env(_production(CREDITGATE_SIDE="registry")).side is Side.REGISTRY


def test_unknown_mode_or_side_is_refused() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"CREDITGATE_MODE": "staging"})
    with pytest.raises(SettingsError):
        Settings.from_env({"CREDITGATE_SIDE": "dmz"})


def test_production_refuses_a_short_or_unreadable_payment_notification_key(
    tmp_path: Path,
) -> None:
    short = tmp_path / "short-key"
    short.write_text("too-short\n")
    with pytest.raises(SettingsError, match="at least 32 characters"):
        Settings.from_env(_production(CREDITGATE_PAYMENT_NOTIFY_KEY_FILE=str(short)))
    with pytest.raises(SettingsError, match="cannot read the payment-notification key"):
        Settings.from_env(_production(CREDITGATE_PAYMENT_NOTIFY_KEY_FILE=str(tmp_path / "no")))


def test_development_creates_a_private_payment_notification_key_once(tmp_path: Path) -> None:
    env = {"CREDITGATE_VAR_DIR": str(tmp_path)}
    first = Settings.from_env(env).read_payment_notify_key()
    path = tmp_path / "payment-notify-key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32
    assert Settings.from_env(env).read_payment_notify_key() == first
    assert first.decode() not in repr(Settings.from_env(env))


@pytest.mark.parametrize(
    "url",
    [
        "http://creditgate.example.gov.cn",  # not https
        "https://",
        "creditgate.example.gov.cn",
        "https://creditgate.example.gov.cn/api",  # a path
        "https://creditgate.example.gov.cn/?x=1",
        "https://user:secret@creditgate.example.gov.cn",
        "https://creditgate.example.gov.cn:port",
        "ftp://creditgate.example.gov.cn",
    ],
)
def test_production_refuses_a_public_url_that_is_not_an_https_origin(url: str) -> None:
    with pytest.raises(SettingsError, match="CREDITGATE_PUBLIC_URL must be an https:// origin"):
        Settings.from_env(_production(CREDITGATE_PUBLIC_URL=url))


def test_production_pins_the_public_url_it_is_given() -> None:
    env = _production(CREDITGATE_PUBLIC_URL="https://CreditGate.Example.gov.cn:8443/")
    assert Settings.from_env(env).public_url == "https://creditgate.example.gov.cn:8443"


@pytest.mark.parametrize(
    ("given", "pinned"),
    [
        ({}, "http://localhost:8080"),
        ({"PORT": "9000"}, "http://localhost:9000"),
        ({"HOST": "0.0.0.0", "PORT": "9001"}, "http://localhost:9001"),  # noqa: S104
        ({"HOST": "10.1.2.3", "PORT": "80"}, "http://10.1.2.3:80"),
        ({"HOST": "::1"}, "http://localhost:8080"),
        ({"CREDITGATE_PUBLIC_URL": "http://cg.test:8000", "PORT": "1"}, "http://cg.test:8000"),
    ],
)
def test_development_defaults_the_public_url_from_host_and_port(
    tmp_path: Path, given: dict[str, str], pinned: str
) -> None:
    env = {"CREDITGATE_VAR_DIR": str(tmp_path / "var"), **given}
    assert Settings.from_env(env).public_url == pinned


def test_signed_pdf_reports_name_the_public_url_as_the_place_to_verify() -> None:
    from app.services.reports.pdf import verify_url

    env = _production(CREDITGATE_PUBLIC_URL="https://credit.cq.cn/")
    assert verify_url(Settings.from_env(env)) == "https://credit.cq.cn/verify"


# --- production's database ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "role", "named"),
    [
        ("sqlite:////srv/creditgate.db", None, "PostgreSQL"),
        ("postgresql://creditgate_app:pw@db.internal/creditgate", None, "verify-full"),
        ("postgresql://creditgate_app:pw@db.internal/cg?sslmode=require", None, "verify-full"),
        ("postgresql+psycopg://postgres:pw@db.internal/cg?sslmode=verify-full", None, "superuser"),
        ("postgresql://cg_owner:pw@db.internal/cg?sslmode=verify-full", None, "owner"),
        ("postgresql://dbadmin:pw@db.internal/cg?sslmode=verify-full", None, "superuser"),
        ("postgresql://creditgate_app:pw@db/cg?sslmode=verify-full", "postgres", "ROLE"),
        ("postgresql://db.internal/cg?sslmode=verify-full", None, "application role"),
    ],
)
def test_production_refuses_a_database_without_verified_tls_or_as_a_privileged_role(
    url: str, role: str | None, named: str
) -> None:
    extra = {"CREDITGATE_DATABASE_URL": url}
    if role is not None:
        extra["CREDITGATE_DATABASE_ROLE"] = role
    with pytest.raises(SettingsError, match=named) as refused:
        Settings.from_env(_production(**extra))
    assert "pw" not in str(refused.value).replace("pw@", "")  # the password is never named
    assert ":pw@" not in str(refused.value)


def test_production_accepts_verified_tls_as_the_application_role() -> None:
    url = (
        "postgresql+psycopg://creditgate_app:pw@db.internal/creditgate"
        "?sslmode=verify-full&sslrootcert=/etc/creditgate/db-ca.pem"
    )
    settings = Settings.from_env(
        _production(CREDITGATE_DATABASE_URL=url, CREDITGATE_DATABASE_ROLE="creditgate_app")
    )
    assert settings.database_url == url
