"""The application factory: the only place that wires the HSM, database and catalog together.

`create_app(settings)` takes a frozen `Settings`; tests hand it their own settings and may inject
a key provider (an in-memory one for unit tests above `hsm/`, SoftHSM2 everywhere else).
No HSM session is opened here: the PKCS#11 provider logs in lazily on first use, so a gunicorn
master that imports this module never holds a session its workers would inherit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from app.clock import Clock, SystemClock
from app.container import Container
from app.db import make_engine, make_session_factory
from app.services.keys.lifecycle import data_key_loader
from app.settings import Settings
from app.web.identity import SESSION_COOKIE
from app.writer_lock import writer_lock_for
from crypto.fields import FieldCipher
from crypto.keyring import DataKeyRing
from crypto.keys import KeyProvider
from policies.catalog import load_catalog
from policies.engine import PolicyEngine
from policies.policy_data import load_policy
from policies.repair import check_catalog, default_repair
from policies.rights import default_rights

MAX_REQUEST_BYTES = 64 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    key_provider: KeyProvider | None = None,
    policy_path: Path | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the app. Tests may inject `key_provider` (an in-memory one for unit tests above
    `hsm/`) and `clock` (the one clock every use case asks).

    The catalog and the access policy (`policy_path`, default the packaged
    policies/data/policy.toml) are validated here: an invalid one raises `CatalogError` /
    `PolicyError` and the service does not start."""
    settings = settings if settings is not None else Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        TESTING=settings.mode == "test",
    )
    catalog = load_catalog()
    policy = PolicyEngine(load_policy(policy_path), catalog)
    default_rights()  # validated at start-up: a broken rights file refuses to start
    check_catalog(default_repair(), catalog)  # likewise the repair rules, against the catalog
    engine = make_engine(settings.database_url, role=settings.database_role)
    sessions = make_session_factory(engine)
    provider = key_provider if key_provider is not None else _pkcs11_provider(settings)
    cipher = FieldCipher(DataKeyRing(provider, data_key_loader(sessions)))
    app.extensions["creditgate"] = Container(
        settings=settings,
        engine=engine,
        sessions=sessions,
        key_provider=provider,
        cipher=cipher,
        catalog=catalog,
        policy=policy,
        writer_lock=writer_lock_for(settings.database_url),
        clock=clock if clock is not None else SystemClock(),
    )
    _configure_logging(app)

    from app import cli
    from app.web import register_web

    register_web(app)
    cli.init_app(app)
    return app


def _pkcs11_provider(settings: Settings) -> KeyProvider:
    from hsm import Pkcs11KeyProvider

    settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Pkcs11KeyProvider(
        module_path=settings.pkcs11_module,
        token_label=settings.token_label,
        pin=settings.read_pin,
        init_lock_path=settings.hsm_lock_path,
        softhsm_conf=settings.softhsm_conf,
    )


def _configure_logging(app: Flask) -> None:
    from app import logs
    from app.web.security_events import current_request_id

    logs.install(current_request_id)
    app.logger.setLevel(logging.INFO)
