"""Encryption at rest for stored credentials.

Each key of BOTWATCH_SECRET_KEYS (newest first) becomes a Fernet key; MultiFernet encrypts
with the first and decrypts with any, so a new key can be put in front and old rows stay
readable until `manage.py rotate_secrets` re-encrypts them with it.

The stored value names how its key was made. `fernet2:` (written now): a key that already is
a Fernet key (url-safe base64 of 32 bytes, as `Fernet.generate_key()` gives) is used as it is,
any other string is stretched with HKDF-SHA256 (the keys are random strings of at least 16
characters, checked in settings, not passwords, so a fast KDF is the right one). `fernet:`
(earlier releases): every key was a plain SHA-256 of the string; such rows are still read,
and rotate_secrets rewrites them.
"""

import base64
import binascii
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

PREFIX = "fernet2:"
LEGACY_PREFIX = "fernet:"
HKDF_SALT = b"botwatch-credentials"
HKDF_INFO = b"fernet2"


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _fernet_key(key: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32 and len(key) == 44:
            return key.encode()
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(key.encode())
    return base64.urlsafe_b64encode(derived)


def _legacy_key(key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], prefix: str = PREFIX) -> MultiFernet:
    stretch = _fernet_key if prefix == PREFIX else _legacy_key
    return MultiFernet([Fernet(stretch(k)) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.BOTWATCH_SECRET_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def is_legacy(stored: str) -> bool:
    """Encrypted under the SHA-256 stretching of earlier releases (rotate_secrets rewrites it)."""
    return stored.startswith(LEGACY_PREFIX)


def decrypt(stored: str) -> str:
    if not stored.startswith((PREFIX, LEGACY_PREFIX)):
        raise DecryptionError("stored secret is not in the encrypted format")
    return _decrypt(tuple(settings.BOTWATCH_SECRET_KEYS), stored)


@lru_cache(maxsize=65536)
def _decrypt(keys: tuple[str, ...], stored: str) -> str:
    # Every run of a portal loads its bots again, tokens included: the same ciphertexts
    # decrypted each time cost the workers more CPU than the queries that read them. Keyed
    # by the key set, so a removed key still fails; failures raise and are not cached.
    # Sized above the secrets a deployment holds (a few hundred bytes each): sweeps read
    # them in a cycle, and an LRU smaller than the cycle would miss on every read.
    prefix = PREFIX if stored.startswith(PREFIX) else LEGACY_PREFIX
    try:
        return _fernet(keys, prefix).decrypt(stored[len(prefix) :].encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored secret cannot be decrypted with any key in BOTWATCH_SECRET_KEYS (was a key removed?)"
        ) from None


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python code sees the plain string.

    An empty value is stored as an empty string, so "is a secret set" needs no decryption.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return encrypt(value)

    def formfield(self, **kwargs):
        # Never pre-fill a form with the secret; admin and dashboard forms handle "keep".
        return None


class EncryptedJSONField(models.TextField):
    """A list or mapping stored as Fernet ciphertext of its JSON; empty ([] or {}) is an empty string.

    For values that hold secrets as a whole, such as a portal's channel URLs.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return self.get_default()
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value) if value else self.get_default()
        return value

    def get_prep_value(self, value):
        if not value:
            return ""
        return encrypt(json.dumps(value, separators=(",", ":")))

    def formfield(self, **kwargs):
        return None
