"""Sessions pulled from under the provider are re-established; a miss is trusted only when the
login is known to hold; recovery is bounded and then fails closed."""

from __future__ import annotations

import logging

import pytest

from crypto.keys import HsmUnavailable, MacKey, SigningKey, WrappingKey, epoch_key_label
from hsm import Pkcs11KeyProvider
from hsm import session as hsm_session
from hsm.lock import HSM_LOCK
from tests.softhsm_fixtures import SoftHsmEnv

pytestmark = pytest.mark.hsm

MASTER = WrappingKey.MASTER.value


def _conn(provider: Pkcs11KeyProvider) -> hsm_session.TokenConnection:
    return hsm_session.connection(provider.module_path, provider.token_label)


def test_session_closed_under_the_provider_is_reopened(
    hsm_provider: Pkcs11KeyProvider, caplog: pytest.LogCaptureFixture
) -> None:
    wrapped = hsm_provider.wrap(MASTER, b"dek", b"aad")
    mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    with HSM_LOCK:
        session = _conn(hsm_provider).session
        assert session is not None
        session.close()  # C_Logout + C_CloseSession behind the provider's back
    with caplog.at_level(logging.WARNING, logger="hsm"):
        assert hsm_provider.unwrap(MASTER, wrapped, b"aad") == b"dek"
    assert "logging in again" in caplog.text
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m") == mac
    assert _conn(hsm_provider).session is not session


def test_logged_out_session_is_not_mistaken_for_missing_keys(
    hsm_provider: Pkcs11KeyProvider,
) -> None:
    hsm_provider.connect()
    with HSM_LOCK:
        conn = _conn(hsm_provider)
        session = conn.session
        assert session is not None
        # keep an open session that is *not* logged in: it sees no private objects at all
        anonymous = session.token.open(rw=True)
        session.close()
        conn.session = anonymous
        conn.keys.clear()  # nothing cached to trip over: the lookups below start from a miss
    assert hsm_provider.has_key(SigningKey.CARD_CA.value) is True
    assert hsm_provider.verify(
        SigningKey.CARD_CA, b"m", hsm_provider.sign(SigningKey.CARD_CA, b"m")
    )
    with HSM_LOCK:  # the provider replaced (and closed) the anonymous session
        assert _conn(hsm_provider).session is not anonymous


def test_cached_handles_after_logout_trigger_a_relogin_not_key_not_found(
    hsm_provider: Pkcs11KeyProvider, caplog: pytest.LogCaptureFixture
) -> None:
    hsm_provider.connect()
    with HSM_LOCK:
        conn = _conn(hsm_provider)
        logged_in = conn.session
        assert logged_in is not None
        # make the provider work through a second session, so that the first one can log the
        # token out while the provider's own session (and its key handles) stay open
        conn.session = logged_in.token.open(rw=True)
        conn.keys.clear()
    wrapped = hsm_provider.wrap(MASTER, b"dek", b"aad")  # handle cached on the second session
    with HSM_LOCK:
        logged_in.close()  # C_Logout: the provider's session is still open but logged out
    with caplog.at_level(logging.WARNING, logger="hsm"):
        assert hsm_provider.unwrap(MASTER, wrapped, b"aad") == b"dek"
    assert "ObjectHandleInvalid" in caplog.text
    # an absent key is still reported absent (after the login has been proven)
    assert hsm_provider.has_key(epoch_key_label(1999, 1)) is False


def test_library_reinitialised_under_the_provider(hsm_provider: Pkcs11KeyProvider) -> None:
    mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    with HSM_LOCK:
        lib = hsm_session.load_library(hsm_provider.module_path, None)
        lib.reinitialize()  # every session in the process is gone
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m") == mac


def test_library_finalised_under_the_provider(hsm_provider: Pkcs11KeyProvider) -> None:
    mac = hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
    with HSM_LOCK:
        lib = hsm_session.load_library(hsm_provider.module_path, None)
        lib.finalize()  # CKR_CRYPTOKI_NOT_INITIALIZED from now on until C_Initialize
    assert hsm_provider.hmac_sha256(MacKey.BLIND_INDEX, b"m") == mac


def test_recovery_is_bounded_then_unavailable(softhsm_env: SoftHsmEnv) -> None:
    with softhsm_env.provider(max_retries=0) as provider:
        mac = provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
        with HSM_LOCK:
            session = _conn(provider).session
            assert session is not None
            session.close()
        with pytest.raises(HsmUnavailable, match="lost the session") as excinfo:
            provider.hmac_sha256(MacKey.BLIND_INDEX, b"m")
        assert softhsm_env.pin not in str(excinfo.value)
        # the next call starts with a fresh login and succeeds
        assert provider.hmac_sha256(MacKey.BLIND_INDEX, b"m") == mac


def test_default_retries_survive_repeated_loss(hsm_provider: Pkcs11KeyProvider) -> None:
    wrapped = hsm_provider.wrap(MASTER, b"dek", b"aad")
    for _ in range(5):
        with HSM_LOCK:
            session = _conn(hsm_provider).session
            assert session is not None
            session.close()
        assert hsm_provider.unwrap(MASTER, wrapped, b"aad") == b"dek"


def test_lookup_on_a_closed_session_recovers_cleanly(softhsm_env: SoftHsmEnv) -> None:
    # nothing cached: the first PKCS#11 call is a search on a dead session. (python-pkcs11 would
    # report a failed C_FindObjectsInit as an unraisable exception, an error under pytest -W error)
    with softhsm_env.provider() as provider:
        provider.connect()
        with HSM_LOCK:
            conn = _conn(provider)
            assert conn.session is not None
            conn.session.close()
            conn.keys.clear()
        assert provider.has_key(SigningKey.LOG_CHECKPOINT.value)
        with HSM_LOCK:
            hsm_session.load_library(provider.module_path, None).finalize()
            _conn(provider).keys.clear()
        assert provider.key_attributes(MASTER)
