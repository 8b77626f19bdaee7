"""Settings: one frozen object built once from the environment and handed to `create_app`.

Guarantees:
- production refuses to start, naming every missing item, without a secret key, a PKCS#11 module
  path, a token label, a PIN source (file or environment variable, never a CLI argument) and the
  payment-notification key file (`CREDITGATE_PAYMENT_NOTIFY_KEY_FILE`, at least 32 characters),
  and without the public URL (`CREDITGATE_PUBLIC_URL`), which must be an `https://` origin;
- production names its TLS proxies (`CREDITGATE_TRUSTED_PROXIES`): behind the proxy every
  request comes from it, so the client address, request id and card header are the proxy's;
- production names its side (`CREDITGATE_SIDE=registry|portal`) and refuses `combined`, the
  development default that serves both sides in one process (policies/data/sides.toml);
- production's database is PostgreSQL with `sslmode=verify-full`, reached as a named role that
  does not look like an owner or superuser (`postgres`, `*admin*`, `*owner`, `*super*`);
- the public URL is pinned here, never taken from a request: it is what institutions sign
  into their client assertions' `aud` and what the commands print. Outside production it
  defaults to `http://localhost:PORT` (`http://HOST:PORT` when HOST is not a loopback or
  wildcard address), from the same `HOST` and `PORT` that `make serve` binds;
- development never falls back to a built-in secret: it creates random ones under `var/` (mode
  0600, `var/` itself 0700) on first run and reuses them (the payment-notification key
  included);
- `repr()` and `describe()` never show the secret key or the PIN.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from app.database_checks import production_database_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
DEV_TOKEN_LABEL = "creditgate-dev"  # noqa: S105 - a token label, not a secret
MIN_NOTIFY_KEY_LENGTH = 32


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class Side(StrEnum):
    """Which side of the physical isolation this process serves (ARCHITECTURE §2)."""

    REGISTRY = "registry"
    PORTAL = "portal"
    #: Both sides in one process: development and the test suite only (production refuses it).
    COMBINED = "combined"


class SettingsError(Exception):
    """The environment does not describe a configuration this service may start with."""


@dataclass(frozen=True)
class Settings:
    mode: Mode
    side: Side
    database_url: str = field(repr=False)
    var_dir: Path
    pkcs11_module: str
    token_label: str
    pin_file: Path | None
    secret_key: str = field(repr=False)
    pin_env: str | None = field(default=None, repr=False)
    softhsm_conf: Path | None = None
    demo_subjects: int = 2000
    #: Addresses (or CIDR networks) of TLS proxies whose client-certificate header is trusted.
    trusted_proxies: tuple[str, ...] = ()
    client_cert_header: str = "X-SSL-Client-Cert"
    #: The shared HMAC key of the payment provider; None: `var/payment-notify-key` (not in
    #: production, which refuses to start without a configured file).
    payment_notify_key_file: Path | None = None
    #: Query-log checkpoints: sign the head every N entries or when the last is T seconds old.
    log_checkpoint_every: int = 1000
    log_checkpoint_seconds: int = 300
    #: PostgreSQL role the engine assumes on every connection (`SET ROLE`), e.g. creditgate_app.
    database_role: str | None = None
    #: argon2id parameters: "standard" (RFC 9106); "fast" only in test mode, for the suite.
    password_hashing: str = "standard"  # noqa: S105 - a parameter set's name, not a password
    #: The origin institutions and browsers reach the service at (scheme://host[:port], no
    #: path); the default is the test client's.
    public_url: str = "http://localhost"

    def __post_init__(self) -> None:
        if self.password_hashing not in ("standard", "fast"):
            raise SettingsError("password_hashing is standard or fast")
        if self.password_hashing == "fast" and self.mode is not Mode.TEST:  # noqa: S105
            raise SettingsError("fast password hashing is for the test suite only")

    @property
    def service_name(self) -> str:
        """Named in every login challenge, so a signature made for one side or deployment
        cannot be replayed at another."""
        return f"creditgate-{self.side.value}"

    @property
    def hsm_lock_path(self) -> Path:
        return self.var_dir / "hsm-init.lock"

    def read_pin(self) -> str:
        """The token PIN, read from its file or variable at the moment it is needed."""
        if self.pin_env is not None:
            return self.pin_env
        if self.pin_file is None:
            raise SettingsError("no PIN source configured (CREDITGATE_PIN_FILE or CREDITGATE_PIN)")
        try:
            pin = self.pin_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"cannot read the PIN file {self.pin_file}: {exc.strerror}"
            ) from None
        if not pin:
            raise SettingsError(f"the PIN file {self.pin_file} is empty")
        return pin

    def read_payment_notify_key(self) -> bytes:
        """The payment provider's HMAC key, read when needed; created (0600) under `var/`
        outside production when no file is configured."""
        if self.payment_notify_key_file is None:
            if self.mode is Mode.PRODUCTION:
                raise SettingsError("no payment-notification key file configured")
            return _local_secret(self.var_dir / "payment-notify-key", 48).encode()
        try:
            key = self.payment_notify_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"cannot read the payment-notification key file "
                f"{self.payment_notify_key_file}: {exc.strerror}"
            ) from None
        if len(key) < MIN_NOTIFY_KEY_LENGTH:
            raise SettingsError(
                f"the payment-notification key file {self.payment_notify_key_file} must hold "
                f"at least {MIN_NOTIFY_KEY_LENGTH} characters"
            )
        return key.encode()

    def describe(self) -> dict[str, str]:
        """What is safe to print: never the secret key, never the PIN."""
        return {
            "mode": self.mode.value,
            "side": self.side.value,
            "database": _redact_url(self.database_url),
            "pkcs11_module": self.pkcs11_module,
            "token_label": self.token_label,
            "pin_source": "environment" if self.pin_env is not None else f"file {self.pin_file}",
            "public_url": self.public_url,
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.describe().items())
        return f"Settings({shown})"

    def with_overrides(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        try:
            mode = Mode(env.get("CREDITGATE_MODE", Mode.DEVELOPMENT.value))
            side = Side(env.get("CREDITGATE_SIDE", Side.COMBINED.value))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        var_dir = Path(env.get("CREDITGATE_VAR_DIR", PROJECT_ROOT / "var")).resolve()
        if mode is Mode.PRODUCTION:
            return _production(env, side, var_dir)
        return _development(env, mode, side, var_dir)


def _production(env: dict[str, str], side: Side, var_dir: Path) -> Settings:
    required = {
        "CREDITGATE_SECRET_KEY": "a secret key",
        "CREDITGATE_DATABASE_URL": "a database URL",
        "CREDITGATE_PKCS11_MODULE": "the PKCS#11 module path",
        "CREDITGATE_TOKEN_LABEL": "the HSM token label",
    }
    missing = [f"{name} ({what})" for name, what in required.items() if not env.get(name)]
    if not env.get("CREDITGATE_PIN_FILE") and not env.get("CREDITGATE_PIN"):
        missing.append("CREDITGATE_PIN_FILE or CREDITGATE_PIN (the token PIN source)")
    if not env.get("CREDITGATE_PAYMENT_NOTIFY_KEY_FILE"):
        missing.append(
            "CREDITGATE_PAYMENT_NOTIFY_KEY_FILE (the payment provider's notification key file)"
        )
    if not env.get("CREDITGATE_TRUSTED_PROXIES", "").strip():
        missing.append(
            "CREDITGATE_TRUSTED_PROXIES (the TLS proxy's addresses: without them every client "
            "counts as the proxy's one address)"
        )
    if not env.get("CREDITGATE_PUBLIC_URL"):
        missing.append("CREDITGATE_PUBLIC_URL (the https:// URL institutions reach us at)")
    if not env.get("CREDITGATE_SIDE"):
        missing.append("CREDITGATE_SIDE (registry or portal: the side this host serves)")
    if missing:
        raise SettingsError("production mode refuses to start; missing: " + "; ".join(missing))
    if side is Side.COMBINED:
        raise SettingsError(
            "CREDITGATE_SIDE=combined serves both sides in one process: development only; "
            "production runs the registry and the portal on separate hosts"
        )
    if len(env["CREDITGATE_SECRET_KEY"]) < 32:
        raise SettingsError("CREDITGATE_SECRET_KEY must be at least 32 characters")
    problem = production_database_problem(
        env["CREDITGATE_DATABASE_URL"], env.get("CREDITGATE_DATABASE_ROLE")
    )
    if problem is not None:
        raise SettingsError(problem)
    module = env["CREDITGATE_PKCS11_MODULE"]
    if not Path(module).is_file():
        raise SettingsError(f"CREDITGATE_PKCS11_MODULE: no such file {module}")
    settings = Settings(
        trusted_proxies=_proxies(env),
        client_cert_header=env.get("CREDITGATE_CLIENT_CERT_HEADER", "X-SSL-Client-Cert"),
        **_log_and_role(env),
        mode=Mode.PRODUCTION,
        side=side,
        database_url=env["CREDITGATE_DATABASE_URL"],
        var_dir=var_dir,
        pkcs11_module=module,
        token_label=env["CREDITGATE_TOKEN_LABEL"],
        pin_file=Path(env["CREDITGATE_PIN_FILE"]) if env.get("CREDITGATE_PIN_FILE") else None,
        pin_env=env.get("CREDITGATE_PIN") or None,
        secret_key=env["CREDITGATE_SECRET_KEY"],
        softhsm_conf=Path(env["SOFTHSM2_CONF"]) if env.get("SOFTHSM2_CONF") else None,
        payment_notify_key_file=Path(env["CREDITGATE_PAYMENT_NOTIFY_KEY_FILE"]),
        public_url=parse_public_url(env["CREDITGATE_PUBLIC_URL"], schemes=("https",)),
    )
    settings.read_pin()  # fail at start, not on the first request; the value is discarded
    settings.read_payment_notify_key()  # likewise
    return settings


def _development(env: dict[str, str], mode: Mode, side: Side, var_dir: Path) -> Settings:
    _private_dir(var_dir)
    secret = env.get("CREDITGATE_SECRET_KEY") or _local_secret(var_dir / "secret-key", 48)
    pin_env = env.get("CREDITGATE_PIN") or None
    pin_file = Path(env["CREDITGATE_PIN_FILE"]) if env.get("CREDITGATE_PIN_FILE") else None
    if pin_env is None and pin_file is None:
        pin_file = var_dir / "softhsm" / "user-pin"
    return Settings(
        trusted_proxies=_proxies(env),
        client_cert_header=env.get("CREDITGATE_CLIENT_CERT_HEADER", "X-SSL-Client-Cert"),
        **_log_and_role(env),
        mode=mode,
        side=side,
        database_url=env.get("CREDITGATE_DATABASE_URL", f"sqlite:///{var_dir / 'creditgate.db'}"),
        var_dir=var_dir,
        pkcs11_module=env.get("CREDITGATE_PKCS11_MODULE", DEFAULT_SOFTHSM_MODULE),
        token_label=env.get("CREDITGATE_TOKEN_LABEL", DEV_TOKEN_LABEL),
        pin_file=pin_file,
        pin_env=pin_env,
        secret_key=secret,
        softhsm_conf=Path(env.get("SOFTHSM2_CONF", var_dir / "softhsm" / "softhsm2.conf")),
        demo_subjects=int(env.get("CREDITGATE_DEMO_SUBJECTS", "2000")),
        payment_notify_key_file=_notify_key_file(env, var_dir),
        public_url=_development_public_url(env),
    )


_WILDCARD_OR_LOOPBACK = {"", "localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}  # noqa: S104


def parse_public_url(raw: str, *, schemes: tuple[str, ...]) -> str:
    """`raw` as an origin (scheme://host[:port], lower case, no trailing slash), or
    `SettingsError` if it is not one with a scheme in `schemes`."""
    parsed = urlsplit(raw.strip())
    try:
        port = parsed.port  # a port that is not a number raises here
    except ValueError:
        port = -1
    if (
        parsed.scheme not in schemes
        or not parsed.hostname
        or parsed.username is not None
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
        or port == -1
    ):
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        raise SettingsError(
            f"CREDITGATE_PUBLIC_URL must be an {allowed} origin such as "
            f"{schemes[-1]}://creditgate.example.gov.cn (no path, query or credentials)"
        )
    return f"{parsed.scheme}://{parsed.netloc.lower()}"


def _development_public_url(env: dict[str, str]) -> str:
    if env.get("CREDITGATE_PUBLIC_URL"):
        return parse_public_url(env["CREDITGATE_PUBLIC_URL"], schemes=("http", "https"))
    host = env.get("HOST", "").strip()
    port = env.get("PORT", "").strip() or "8080"
    if host in _WILDCARD_OR_LOOPBACK:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return parse_public_url(f"http://{host}:{port}", schemes=("http",))


def _notify_key_file(env: dict[str, str], var_dir: Path) -> Path:
    configured = env.get("CREDITGATE_PAYMENT_NOTIFY_KEY_FILE")
    if configured:
        return Path(configured)
    path = var_dir / "payment-notify-key"
    _local_secret(path, 48)
    return path


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: not a whole number: {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name}: must be at least 1")
    return value


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _log_and_role(env: dict[str, str]) -> dict[str, Any]:
    role = env.get("CREDITGATE_DATABASE_ROLE", "").strip() or None
    if role is not None and not _ROLE_NAME.match(role):
        raise SettingsError("CREDITGATE_DATABASE_ROLE: not a plain lower-case role name")
    return {
        "log_checkpoint_every": _positive_int(env, "CREDITGATE_LOG_CHECKPOINT_EVERY", 1000),
        "log_checkpoint_seconds": _positive_int(env, "CREDITGATE_LOG_CHECKPOINT_SECONDS", 300),
        "database_role": role,
    }


def _proxies(env: dict[str, str]) -> tuple[str, ...]:
    raw = env.get("CREDITGATE_TRUSTED_PROXIES", "")
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(
                f"CREDITGATE_TRUSTED_PROXIES: not an address or network: {item!r}"
            ) from None
    return tuple(networks)


def _private_dir(path: Path) -> None:
    """The local state directory, created 0700, or made 0700 if others could read it: it
    holds the database, the token and the secrets."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _local_secret(path: Path, nbytes: int) -> str:
    """Read a per-installation random secret, creating it (0600) on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _redact_url(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
