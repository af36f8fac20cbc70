"""Encryption at rest for stored credentials.

Each key of BOTWATCH_SECRET_KEYS (newest first) is stretched into a Fernet key; MultiFernet
encrypts with the first and decrypts with any, so a new key can be put in front and old rows
stay readable until `manage.py rotate_secrets` re-encrypts them with it.
"""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # SHA-256 gives the 32 bytes Fernet needs from a key of any length; the keys are
    # random strings of at least 16 characters (checked in settings), not passwords.
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.BOTWATCH_SECRET_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored secret is not in the encrypted format")
    return _decrypt(tuple(settings.BOTWATCH_SECRET_KEYS), stored)


@lru_cache(maxsize=65536)
def _decrypt(keys: tuple[str, ...], stored: str) -> str:
    # Every run of a portal loads its bots again, tokens included: the same ciphertexts
    # decrypted each time cost the workers more CPU than the queries that read them. Keyed
    # by the key set, so a removed key still fails; failures raise and are not cached.
    # Sized above the secrets a deployment holds (a few hundred bytes each): sweeps read
    # them in a cycle, and an LRU smaller than the cycle would miss on every read.
    try:
        return _fernet(keys).decrypt(stored[len(PREFIX) :].encode()).decode()
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
