"""Session-wide SoftHSM2 fixtures (a real token, no PKCS#11 mocks).

Register once from ``tests/conftest.py``::

    pytest_plugins = ["tests.softhsm_fixtures"]

Fixtures:

- ``softhsm_env`` (session): a temporary token directory and softhsm2.conf with three tokens
  initialised under random PINs: ``token_label`` (service keys provisioned), ``empty_token_label``
  (never provisioned; treat as read-only), ``spare_token_label`` (unprovisioned; the
  provisioning tests provision it) and ``peer_token_label`` (the other side's token in the
  exchange pair tests: ``peer_provider`` provisions it). Use ``softhsm_env.provider()`` for an
  extra instance.
- ``service_provider`` (session): a `Pkcs11KeyProvider` on the provisioned token;
  ``hsm_provider`` is the same object under the name the hsm tests use.

``CG_SOFTHSM_RESET_ON_FORK=0`` writes ``library.reset_on_fork = false`` into the configuration
(default true), to compare SoftHSM2's two fork behaviours.

SoftHSM2 reads SOFTHSM2_CONF once per process, so every test in the run shares this one
configuration; the environment is built once per process even if the fixtures are registered
twice.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hsm import Pkcs11KeyProvider, provision_service_keys
from hsm.softhsm import find_softhsm_module, init_softhsm_token, write_softhsm_config


@dataclass(frozen=True)
class SoftHsmEnv:
    """Paths, labels and PINs of the test tokens."""

    module: str
    conf_path: Path
    token_dir: Path
    lock_path: Path
    token_label: str
    empty_token_label: str
    spare_token_label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)
    peer_token_label: str = "cg-test-peer"

    def provider(self, token_label: str | None = None, **overrides: Any) -> Pkcs11KeyProvider:
        """A new provider instance on this configuration (the provisioned token by default)."""
        kwargs: dict[str, Any] = {
            "module_path": self.module,
            "token_label": self.token_label if token_label is None else token_label,
            "pin": self.pin,
            "init_lock_path": self.lock_path,
            "softhsm_conf": self.conf_path,
        }
        kwargs.update(overrides)
        return Pkcs11KeyProvider(**kwargs)


_ENV: SoftHsmEnv | None = None

#: Blank smart-card tokens (same PINs as the others) for the card tests; a key generated on a
#: card stays there, so each test module that keys a card owns its own labels.
CARD_TOKEN_LABELS: tuple[str, ...] = tuple(f"cg-card-{n}" for n in range(1, 17))


def _build_env(base: Path) -> SoftHsmEnv:
    conf_path = write_softhsm_config(
        base / "tokens",
        base / "softhsm2.conf",
        reset_on_fork=os.environ.get("CG_SOFTHSM_RESET_ON_FORK", "1") != "0",
    )
    pin, so_pin = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    env = SoftHsmEnv(
        module=find_softhsm_module(),
        conf_path=conf_path,
        token_dir=base / "tokens",
        lock_path=base / "hsm-init.lock",
        token_label="cg-test",
        empty_token_label="cg-test-empty",
        spare_token_label="cg-test-spare",
        pin=pin,
        so_pin=so_pin,
    )
    # All tokens exist before the module is first loaded: SoftHSM2 only sees tokens that were
    # there at C_Initialize.
    for label in (
        env.token_label,
        env.empty_token_label,
        env.spare_token_label,
        env.peer_token_label,
        *CARD_TOKEN_LABELS,
    ):
        init_softhsm_token(conf_path, label, so_pin, pin)
    return env


@pytest.fixture(scope="session")
def softhsm_env(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmEnv:
    global _ENV
    if _ENV is None:
        _ENV = _build_env(tmp_path_factory.mktemp("softhsm"))
        with _ENV.provider() as provider:
            provision_service_keys(provider)
    return _ENV


@pytest.fixture(scope="session")
def service_provider(softhsm_env: SoftHsmEnv) -> Iterator[Pkcs11KeyProvider]:
    provider = softhsm_env.provider()
    yield provider
    provider.close()


@pytest.fixture(scope="session")
def peer_provider(softhsm_env: SoftHsmEnv) -> Iterator[Pkcs11KeyProvider]:
    """A provider on the peer token, its service keys provisioned: the other side's HSM."""
    provider = softhsm_env.provider(softhsm_env.peer_token_label)
    provision_service_keys(provider)
    yield provider
    provider.close()


@pytest.fixture(scope="session")
def hsm_provider(service_provider: Pkcs11KeyProvider) -> Pkcs11KeyProvider:
    return service_provider
