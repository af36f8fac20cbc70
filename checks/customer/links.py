"""The status page's link of a portal: a 256-bit token, kept encrypted and found by its SHA-256.

Encrypted rather than only hashed: the link is meant to be handed out again (the portal page and
`status_link` show it), while a database dump alone reveals no live link without
BOTWATCH_SECRET_KEYS. Rotating replaces the token; revoking removes it: the old address answers 404.
"""

import hashlib
import secrets

from django.conf import settings
from django.urls import reverse

from checks.models import Portal


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(portal: Portal) -> str:
    """A new token for the portal, replacing any it had; the token."""
    token = secrets.token_urlsafe(32)
    portal.status_token, portal.status_token_digest = token, digest(token)
    portal.save(update_fields=["status_token", "status_token_digest", "updated_at"])
    return token


def ensure(portal: Portal) -> tuple[str, bool]:
    """The portal's token, created if it has none; (token, created)."""
    if portal.status_token_digest:
        return portal.status_token, False
    return issue(portal), True


def revoke(portal: Portal) -> bool:
    """Removes the portal's link; False when it had none."""
    had = bool(portal.status_token_digest)
    portal.status_token, portal.status_token_digest = "", None
    portal.save(update_fields=["status_token", "status_token_digest", "updated_at"])
    return had


def find(token: str) -> Portal | None:
    """The portal whose live link holds `token` (secrets deferred), or None."""
    if not token or len(token) > 100:
        return None
    return Portal.objects.defer(*Portal.ENCRYPTED_FIELDS).filter(status_token_digest=digest(token)).first()


def page_url(token: str) -> str:
    return settings.SITE_URL + reverse("status-page", args=[token])
