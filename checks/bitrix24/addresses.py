"""What a portal's settings must hold before BotWatch calls it: an https address (or http where
BOTWATCH_ALLOW_HTTP allows it) and a complete set of credentials. Problems are described without
anything that may hold a secret."""

from urllib.parse import urlsplit

from django.conf import settings

from checks.models import AuthType, Portal


def scheme_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and settings.BOTWATCH_ALLOW_HTTP:
        return None
    if parts.scheme == "http" and parts.hostname:
        return (
            f"portal address http://{parts.hostname} uses plain http: Bitrix24 requires HTTPS "
            "(BOTWATCH_ALLOW_HTTP=1 allows it, e.g. for the simulator)"
        )
    # Only the scheme and host: the rest of a bad URL may hold a credential.
    return (
        f"portal address (scheme {parts.scheme or 'missing'!r}, host {parts.hostname or 'missing'!r}) is not https://"
    )


def auth_problem(portal: Portal) -> str | None:
    if portal.auth_type == AuthType.OAUTH:
        if not portal.oauth_access_token and not portal.oauth_refresh_token:
            return "OAuth portal has neither an access token nor a refresh token"
        return None
    if not portal.webhook_user_id or not portal.webhook_code:
        return "webhook portal needs a webhook user id and webhook code"
    return None
