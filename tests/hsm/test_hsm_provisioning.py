"""Provisioning is additive and idempotent; epoch keys are created once and shredded for good."""

from __future__ import annotations

import os

import pytest

from crypto.keys import (
    KeyIntegrityError,
    KeyNotFound,
    MacKey,
    SigningKey,
    WrappingKey,
    epoch_key_label,
)
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


def _fingerprint(provider: Pkcs11KeyProvider) -> tuple[bytes, tuple[bytes, ...]]:
    return (
        provider.hmac_sha256(MacKey.BLIND_INDEX, b"fingerprint"),
        tuple(provider.public_key_der(key) for key in SigningKey),
    )


def _object_counts(provider: Pkcs11KeyProvider) -> dict[str, int]:
    return {label: len(provider.key_attributes(label)) for label in SERVICE_KEY_LABELS}


def test_provision_creates_missing_keys_once_and_never_replaces(softhsm_env: SoftHsmEnv) -> None:
    with softhsm_env.provider(softhsm_env.spare_token_label) as provider:
        assert missing_service_keys(provider) == list(SERVICE_KEY_LABELS)
        assert provision_service_keys(provider) == list(SERVICE_KEY_LABELS)
        assert missing_service_keys(provider) == []
        expected_counts = {label: 1 for label in SERVICE_KEY_LABELS}
        expected_counts.update({key.value: 2 for key in SigningKey})  # private + public
        assert _object_counts(provider) == expected_counts

        before = _fingerprint(provider)
        wrapped = provider.wrap(MASTER, b"data key", b"aad")
        assert provision_service_keys(provider) == []
        assert provision_service_keys(provider) == []
        assert _fingerprint(provider) == before
        assert provider.unwrap(MASTER, wrapped, b"aad") == b"data key"
        assert _object_counts(provider) == expected_counts
        assert all(ok for _, ok, _ in selftest(provider))

    with softhsm_env.provider(softhsm_env.spare_token_label) as fresh:
        assert provision_service_keys(fresh) == []
        assert _fingerprint(fresh) == before
        assert fresh.unwrap(MASTER, wrapped, b"aad") == b"data key"


def test_provision_is_a_no_op_on_the_provisioned_token(
    softhsm_env: SoftHsmEnv, hsm_provider: Pkcs11KeyProvider
) -> None:
    before = _fingerprint(hsm_provider)
    assert provision_service_keys(hsm_provider) == []
    assert missing_service_keys(hsm_provider) == []
    assert _fingerprint(hsm_provider) == before
    # the keys differ from the spare token's: provisioning generates, it does not derive
    assert before != _fingerprint(softhsm_env.provider(softhsm_env.spare_token_label))


def test_ensure_key_rejects_labels_outside_the_catalogue(hsm_provider: Pkcs11KeyProvider) -> None:
    from crypto.keys import KeyPurposeError

    with pytest.raises(KeyPurposeError):
        hsm_provider.ensure_key("cg-something-else")
    assert not hsm_provider.has_key("cg-something-else")


def test_epoch_key_lifecycle(hsm_provider: Pkcs11KeyProvider) -> None:
    label = epoch_key_label(2040, 6)
    assert not hsm_provider.has_key(label)
    hsm_provider.ensure_epoch_key(label)
    assert hsm_provider.has_key(label)
    wrapped = hsm_provider.wrap(label, b"record dek", b"records|dek|1|v1")

    hsm_provider.ensure_epoch_key(label)  # idempotent: not regenerated
    assert len(hsm_provider.key_attributes(label)) == 1
    assert hsm_provider.unwrap(label, wrapped, b"records|dek|1|v1") == b"record dek"

    assert hsm_provider.destroy_epoch_key(label) is True
    assert not hsm_provider.has_key(label)
    with pytest.raises(KeyNotFound, match=label):
        hsm_provider.unwrap(label, wrapped, b"records|dek|1|v1")
    with pytest.raises(KeyNotFound, match=label):
        hsm_provider.wrap(label, b"x", b"")
    assert hsm_provider.destroy_epoch_key(label) is False

    # a new key under the same label cannot bring the shredded data back
    hsm_provider.ensure_epoch_key(label)
    with pytest.raises(KeyIntegrityError):
        hsm_provider.unwrap(label, wrapped, b"records|dek|1|v1")
    assert hsm_provider.destroy_epoch_key(label) is True
    # the service keys are untouched
    assert missing_service_keys(hsm_provider) == []


def test_epoch_key_destroyed_by_another_process(hsm_provider: Pkcs11KeyProvider) -> None:
    label = epoch_key_label(2041, 1)
    hsm_provider.ensure_epoch_key(label)
    wrapped = hsm_provider.wrap(label, b"dek", b"aad")  # the parent now caches the key handle
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            code = 0 if hsm_provider.destroy_epoch_key(label) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(KeyNotFound, match=label):
        hsm_provider.unwrap(label, wrapped, b"aad")
    assert not hsm_provider.has_key(label)
