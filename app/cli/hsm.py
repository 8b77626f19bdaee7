"""`flask hsm init|selftest|status`: the service token and its keys.

`init` is idempotent and never overwrites: in development it creates the SoftHSM2 token under
`var/softhsm/` (random SO and user PINs written 0600, never printed) when absent, then creates
only the keys that are missing. In production the vendor's token must already exist; `init`
only adds missing keys to it.
"""

from __future__ import annotations

import secrets
import sys

import click
from flask.cli import with_appcontext

from app.container import container
from app.settings import Mode, Settings
from hsm import Pkcs11KeyProvider, missing_service_keys, provision_service_keys, selftest
from hsm.softhsm import init_softhsm_token, token_exists, write_softhsm_config

group = click.Group("hsm", help="The service HSM token and its keys.")


def _write_secret(path_settings: Settings, name: str, value: str) -> None:
    import os

    path = path_settings.var_dir / "softhsm" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def _ensure_dev_token(settings: Settings) -> None:
    conf = settings.softhsm_conf
    if conf is None:
        raise click.ClickException("SOFTHSM2_CONF is not set; cannot create a development token")
    token_dir = settings.var_dir / "softhsm" / "tokens"
    if not conf.exists():
        write_softhsm_config(token_dir, conf)
    if token_exists(conf, settings.token_label):
        return
    if settings.pin_file is None or settings.pin_file.exists():
        raise click.ClickException(
            "a PIN file exists but the token does not; refusing to create a token that would "
            "not match it (remove the stale PIN file deliberately if the token was lost)"
        )
    so_pin = secrets.token_hex(16)
    user_pin = secrets.token_hex(12)
    _write_secret(settings, "so-pin", so_pin)
    _write_secret(settings, settings.pin_file.name, user_pin)
    init_softhsm_token(conf, settings.token_label, so_pin, user_pin)
    click.echo(
        f"created SoftHSM2 token {settings.token_label!r} (PINs in {settings.pin_file.parent})"
    )


@group.command("init")
@with_appcontext
def init() -> None:
    """Create the token (development) and any missing service keys; never overwrite."""
    parts = container()
    settings = parts.settings
    if settings.mode is not Mode.PRODUCTION:
        _ensure_dev_token(settings)
    provider = parts.key_provider
    if not isinstance(provider, Pkcs11KeyProvider):
        raise click.ClickException("the configured key provider cannot create keys")
    created = provision_service_keys(provider)
    if created:
        click.echo("created keys: " + ", ".join(created))
    else:
        click.echo("token already holds every service key; nothing changed")


@group.command("status")
@with_appcontext
def status() -> None:
    """List the service keys the token is missing."""
    missing = missing_service_keys(container().key_provider)
    if missing:
        click.echo("missing keys: " + ", ".join(missing))
        sys.exit(1)
    click.echo("all service keys present")


@group.command("selftest")
@with_appcontext
def selftest_command() -> None:
    """Round-trip every key purpose on the token; exit 1 if any check fails."""
    failures = 0
    for name, ok, detail in selftest(container().key_provider):
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        failures += 0 if ok else 1
    if failures:
        sys.exit(1)
