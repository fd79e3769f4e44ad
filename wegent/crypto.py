"""Encryption of secrets at rest and the mask shown instead of them.

Secrets are Fernet tokens (AES-128-CBC + HMAC) under a key derived from
``settings.ENCRYPTION_KEY``. Responses never carry a secret in clear: they carry ``mask()``,
and a client that sends the mask back means "keep the stored value".
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

MASK_PREFIX = "****"
_TOKEN_PREFIX = "enc:v1:"


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(f"wegent-secrets:{key_material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    if not plaintext or is_encrypted(plaintext):
        return plaintext
    token = _fernet(settings.ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()
    return _TOKEN_PREFIX + token


def decrypt(value: str) -> str:
    """Returns the plaintext; values that were never encrypted are returned as they are."""
    if not is_encrypted(value):
        return value
    try:
        return _fernet(settings.ENCRYPTION_KEY).decrypt(value[len(_TOKEN_PREFIX) :].encode()).decode()
    except InvalidToken:
        return ""


def is_encrypted(value: str) -> bool:
    return isinstance(value, str) and value.startswith(_TOKEN_PREFIX)


def mask(value: str) -> str:
    """A display form that reveals at most the last four characters of long secrets."""
    if not value:
        return value
    plain = decrypt(value)
    if len(plain) >= 12:
        return MASK_PREFIX + plain[-4:]
    return MASK_PREFIX


def is_mask(value: object) -> bool:
    return isinstance(value, str) and value.startswith(MASK_PREFIX)
