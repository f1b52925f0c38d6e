"""Ed25519 seals over canonical JSON, with a key that lives outside the database.

The key is `AUDIT_SIGNING_KEY` (a PEM, or base64 of the 32-byte seed) or the PEM file at
`AUDIT_SIGNING_KEY_FILE`. Whoever holds the database credentials can rewrite the log and every
hash in it, but cannot make a seal over the rewritten head without this key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from config.errors import ApplicationError, Code

ALGORITHM = "Ed25519"


class SigningKeyMissing(ApplicationError):
    default_code = Code.AUDIT_SIGNING_KEY_MISSING


class BadSeal(Exception):
    """A sealed document whose seal is missing, made with another key, or does not verify."""


def canonical(value: Any) -> bytes:
    """The one byte form a seal covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _private_key_from(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        try:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise SigningKeyMissing(
                "AUDIT_SIGNING_KEY is neither a PEM nor base64 of 32 bytes."
            ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyMissing("The audit signing key must be an Ed25519 key.")
    return key


def signing_key() -> Ed25519PrivateKey:
    if settings.AUDIT_SIGNING_KEY:
        return _private_key_from(settings.AUDIT_SIGNING_KEY)
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    try:
        return _private_key_from(path.read_text())
    except FileNotFoundError as exc:
        raise SigningKeyMissing(
            f"No audit signing key at {path}: create one (`manage.py audit_signing_key --create`"
            " or `openssl genpkey -algorithm ed25519`) or set AUDIT_SIGNING_KEY.",
            details={"path": str(path)},
        ) from exc


def signing_key_ensure() -> tuple[Path, bool]:
    """A new key at `AUDIT_SIGNING_KEY_FILE` unless one is there (or the key comes from the
    environment): the path and whether it was created. Readable by its owner only."""
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    if settings.AUDIT_SIGNING_KEY or path.exists():
        return path, False
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False  # another process made it first
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return path, True


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_key_from_pem(text: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(text.encode() if isinstance(text, str) else text)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint naming the key in a seal: SHA-256 of its raw 32 bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with a `seal`: the Ed25519 signature over its canonical JSON."""
    key = signing_key()
    signature = key.sign(canonical(document))
    return {
        **document,
        "seal": {
            "algorithm": ALGORITHM,
            "key_id": key_id(key.public_key()),
            "signature": base64.b64encode(signature).decode(),
        },
    }


def unseal(sealed: dict[str, Any], *, trusted: Ed25519PublicKey) -> dict[str, Any]:
    """The document inside `sealed` if its seal was made by the `trusted` key over exactly
    these contents; else BadSeal."""
    if not isinstance(sealed, dict) or not isinstance(sealed.get("seal"), dict):
        raise BadSeal("no seal")
    document = {k: v for k, v in sealed.items() if k != "seal"}
    stamp = sealed["seal"]
    if stamp.get("algorithm") != ALGORITHM or stamp.get("key_id") != key_id(trusted):
        raise BadSeal("sealed with another key")
    try:
        trusted.verify(base64.b64decode(str(stamp.get("signature")), validate=True),
                       canonical(document))  # fmt: skip
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BadSeal("the signature does not match the contents") from exc
    return document


def trusted_public_key() -> Ed25519PublicKey:
    """The key seals are checked against here: the public half of the signing key."""
    return signing_key().public_key()
