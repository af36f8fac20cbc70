"""API tokens: a role, read or write, and a hash; the token itself is shown once and never stored."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PREFIX = "bw_"


class ApiToken(models.Model):
    """A bearer token for /api/v1/ and /metrics. Only its SHA-256 is kept: it cannot be shown again."""

    class Role(models.TextChoices):
        READ = "read", _("Read")
        WRITE = "write", _("Write")

    name = models.CharField(max_length=100, help_text="What uses it, e.g. grafana or the app's install handler")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.READ)
    # SHA-256 of the whole token. Tokens are 256 random bits, so a fast hash is enough: there is
    # nothing to guess that a slow hash would protect, and every API request looks one up.
    digest = models.CharField(max_length=64, unique=True)
    # The first characters, to tell tokens apart on the Account page ("bw_Xy3k…").
    hint = models.CharField(max_length=12)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, role: str, created_by=None) -> tuple["ApiToken", str]:
        """A new saved token and its plain value, which the caller shows once."""
        token = PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(name=name, role=role, digest=cls.hash(token), hint=token[:8], created_by=created_by)
        return row, token

    @property
    def may_write(self) -> bool:
        return self.role == self.Role.WRITE
