"""Signed batch files: a provider signs the file with the private key of its OAuth client, and
the registry loads it only if the detached signature verifies under the key on record.

The signature is what `openssl dgst -sha256 -sign provider-key.pem -out FILE.sig FILE` makes:
ECDSA P-256 over SHA-256 (DER) for an EC key, RSA PKCS#1 v1.5 over SHA-256 for an RSA key.

Guarantees: `digest_file` reads the file once in bounded blocks (flat memory) and returns its
SHA-256; `verify_signature` accepts only a signature that verifies over that digest under the
provider's registered public key, else `BadSignature` (which never quotes the file or the
signature). The digest is also the batch's identity (replays are refused by it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import load_pem_public_key

BLOCK = 1 << 20
MAX_SIGNATURE_BYTES = 1024


class BadSignature(Exception):
    """The file's signature is missing, malformed or does not verify under the provider key."""


def digest_file(path: Path) -> bytes:
    """The SHA-256 of the file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.digest()


def verify_signature(public_key_pem: str, digest: bytes, signature: bytes) -> None:
    """`BadSignature` unless `signature` signs `digest` (SHA-256) under the key."""
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        raise BadSignature("the signature file is empty or too large to be a signature")
    key = load_pem_public_key(public_key_pem.encode("ascii"))
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            raise BadSignature("the provider's key cannot verify file signatures")
    except (InvalidSignature, ValueError):
        raise BadSignature(
            "the signature does not verify under the provider's registered key"
        ) from None


class HashingReader:
    """Reads lines from a binary file and hashes every byte it hands out, so that the bytes
    loaded can be checked against the bytes whose signature was verified."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()

    def readline(self, size: int = -1, /) -> bytes:
        line = self._handle.readline(size)
        self._digest.update(line)
        return line

    def digest(self) -> bytes:
        """The SHA-256 of what was read so far (of the whole file once it was read to the end;
        call it after draining with `drain`)."""
        return self._digest.copy().digest()

    def drain(self) -> None:
        while block := self._handle.read(BLOCK):
            self._digest.update(block)
