"""The only package that talks PKCS#11: the HSM-backed `crypto.keys.KeyProvider`.

Guarantees: key material stays in the token; every PKCS#11 call in a process is serialised by
one lock; login is lazy, once per process and per fork; failures are closed (`HsmUnavailable`,
`KeyNotFound`, `KeyIntegrityError`, `KeyPurposeError` from `crypto.keys`); PINs are never logged.
"""

from hsm.keyspec import SERVICE_KEY_LABELS
from hsm.provider import Pkcs11KeyProvider
from hsm.provision import (
    ProvisioningKeyProvider,
    missing_service_keys,
    provision_service_keys,
    selftest,
)

__all__ = [
    "SERVICE_KEY_LABELS",
    "Pkcs11KeyProvider",
    "ProvisioningKeyProvider",
    "missing_service_keys",
    "provision_service_keys",
    "selftest",
]
