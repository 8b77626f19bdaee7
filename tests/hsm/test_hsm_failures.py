"""Fail-closed behaviour: bad module, unknown token, wrong PIN, missing keys, secrecy of the PIN."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from crypto.keys import HsmUnavailable, KeyNotFound, MacKey, SigningKey, WrappingKey
from hsm import (
    SERVICE_KEY_LABELS,
    Pkcs11KeyProvider,
    missing_service_keys,
    provision_service_keys,
    selftest,
)
from tests.softhsm_fixtures import SoftHsmEnv

pytestmark = pytest.mark.hsm

MASTER = WrappingKey.MASTER.value


def test_construction_touches_nothing(softhsm_env: SoftHsmEnv, tmp_path: Path) -> None:
    # a gunicorn --preload master builds the provider; nothing is loaded or logged in until use
    provider = Pkcs11KeyProvider(
        str(tmp_path / "no-such-module.so"), "no-such-token", "pin", tmp_path / "lock"
    )
    assert not (tmp_path / "lock").exists()
    with pytest.raises(HsmUnavailable):
        provider.connect()


def test_missing_module_path_is_unavailable_and_named(tmp_path: Path) -> None:
    path = str(tmp_path / "missing" / "libvendor-pkcs11.so")
    provider = Pkcs11KeyProvider(path, "cg-test", "1234", tmp_path / "lock")
    with pytest.raises(HsmUnavailable, match=r"libvendor-pkcs11\.so") as excinfo:
        provider.wrap(MASTER, bytes(32), b"")
    assert path in str(excinfo.value)


def test_unloadable_module_is_unavailable_and_named(tmp_path: Path) -> None:
    not_a_library = tmp_path / "not-a-library.so"
    not_a_library.write_bytes(b"\x7fELF but not really")
    provider = Pkcs11KeyProvider(str(not_a_library), "cg-test", "1234", tmp_path / "lock")
    with pytest.raises(HsmUnavailable) as excinfo:
        provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    assert str(not_a_library) in str(excinfo.value)


def test_unknown_token_label_is_unavailable_and_named(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    hsm_provider.connect()
    provider = softhsm_env.provider("cg-no-such-token")
    with pytest.raises(HsmUnavailable, match="cg-no-such-token"):
        provider.sign(SigningKey.BUNDLE, b"m")
    assert hsm_provider.verify(SigningKey.BUNDLE, b"m", hsm_provider.sign(SigningKey.BUNDLE, b"m"))


def test_wrong_pin_is_unavailable_without_revealing_the_pin(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"before")
    wrong_pin = "Wr0ng-" + os.urandom(6).hex()
    provider = softhsm_env.provider(pin=wrong_pin)
    for call in (
        lambda: provider.connect(),
        lambda: provider.wrap(MASTER, bytes(32), b""),
        lambda: provider.has_key(MASTER),
    ):
        with pytest.raises(HsmUnavailable, match="PIN rejected") as excinfo:
            call()
        text = str(excinfo.value) + repr(excinfo.value)
        assert wrong_pin not in text
        assert softhsm_env.pin not in text
    # a logged-in process does not let a wrong PIN through either (login state is per process)
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"before") == before
    with pytest.raises(HsmUnavailable, match="PIN rejected"):
        provider.hmac_sha256(MacKey.BLIND_INDEX, b"before")
    # ... and the right provider recovers its login afterwards
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"before") == before
    assert wrong_pin not in caplog.text
    assert softhsm_env.pin not in caplog.text


def test_pin_never_in_repr_vars_or_pickle(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    provider = softhsm_env.provider()
    provider.connect()
    for text in (repr(provider), str(provider), repr(vars(provider)), repr(hsm_provider)):
        assert softhsm_env.pin not in text
    with pytest.raises(TypeError):
        pickle.dumps(provider)
    provider.close()


def test_token_without_keys_reports_key_not_found(softhsm_env: SoftHsmEnv) -> None:
    provider = softhsm_env.provider(softhsm_env.empty_token_label)
    try:
        with pytest.raises(KeyNotFound, match=MASTER):
            provider.wrap(MASTER, bytes(32), b"")
        with pytest.raises(KeyNotFound, match=MASTER):
            provider.unwrap(MASTER, bytes(60), b"")
        with pytest.raises(KeyNotFound, match=MacKey.BLIND_INDEX.value):
            provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
        for key in SigningKey:
            with pytest.raises(KeyNotFound, match=key.value):
                provider.sign(key, b"m")
            with pytest.raises(KeyNotFound, match=key.value):
                provider.verify(key, b"m", bytes(64))
            with pytest.raises(KeyNotFound, match=key.value):
                provider.public_key_der(key)
        assert not provider.has_key(MASTER)
        assert missing_service_keys(provider) == list(SERVICE_KEY_LABELS)
        results = {name: (ok, detail) for name, ok, detail in selftest(provider)}
        # only the host-side purpose check can pass without keys
        assert results.pop("purpose separation")[0]
        assert results
        assert all(not ok and "KeyNotFound" in detail for ok, detail in results.values())
    finally:
        provider.close()


def test_closed_provider_fails_closed(softhsm_env: SoftHsmEnv) -> None:
    provider = softhsm_env.provider()
    assert provider.has_key(MASTER)
    provider.close()
    provider.close()  # idempotent
    with pytest.raises(HsmUnavailable, match="closed"):
        provider.wrap(MASTER, bytes(32), b"")
    with pytest.raises(HsmUnavailable, match="closed"):
        provision_service_keys(provider)


def test_closing_one_instance_leaves_others_working(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"shared")
    with softhsm_env.provider() as other:
        assert other.hmac_sha256(MacKey.BLIND_INDEX, b"shared") == mac
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"shared") == mac


def test_other_softhsm_config_in_same_process_is_refused(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider, tmp_path: Path
) -> None:
    hsm_provider.connect()
    other_conf = tmp_path / "other.conf"
    other_conf.write_text(softhsm_env.conf_path.read_text())
    provider = softhsm_env.provider(softhsm_conf=other_conf)
    with pytest.raises(HsmUnavailable, match="SOFTHSM2_CONF"):
        provider.connect()


@pytest.mark.parametrize(
    ("field", "value"),
    [("module_path", ""), ("token_label", ""), ("pin", ""), ("max_retries", -1)],
)
def test_invalid_arguments(softhsm_env: SoftHsmEnv, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"(?i){field.split('_')[0]}"):
        softhsm_env.provider(**{field: value})  # type: ignore[arg-type]


def test_pin_source_is_read_at_login_only(softhsm_env: SoftHsmEnv) -> None:
    calls: list[int] = []

    def read_pin() -> str:
        calls.append(1)
        return softhsm_env.pin

    provider = softhsm_env.provider(pin=read_pin)
    assert calls == []  # construction reads nothing
    mac = provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    assert len(calls) == 1  # one login, then the session is reused
    assert softhsm_env.pin not in repr(vars(provider))
    provider.close()
    assert (
        softhsm_env.provider(pin=lambda: softhsm_env.pin).hmac_sha256(MacKey.BLIND_INDEX, b"m")
        == mac
    )


def test_failing_or_empty_pin_source_is_unavailable(softhsm_env: SoftHsmEnv) -> None:
    def missing_file() -> str:
        raise FileNotFoundError("/run/secrets/pin")

    with pytest.raises(HsmUnavailable, match="FileNotFoundError"):
        softhsm_env.provider(pin=missing_file).connect()
    with pytest.raises(HsmUnavailable, match="gave no PIN"):
        softhsm_env.provider(pin=lambda: "").connect()
    with pytest.raises(HsmUnavailable, match="PIN rejected"):
        softhsm_env.provider(pin=lambda: "not-the-pin").connect()
