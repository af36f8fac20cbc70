"""What is wrong with a portal before any call is made: its address and its credentials."""

from checks.models import AuthType, Portal
from checks.net import addresses


def portal_problem(portal: Portal) -> str | None:
    """Why the portal cannot be called as it is configured (it is then `misconfigured`), or None."""
    try:
        addresses.parse_address(portal.url)
    except addresses.AddressError as exc:
        return str(exc)
    return auth_problem(portal)


def auth_problem(portal: Portal) -> str | None:
    if portal.auth_type == AuthType.OAUTH:
        if portal.uses_broker:
            return None if portal.oauth_broker_secret else "OAuth portal names a token broker but no broker secret"
        if not portal.oauth_access_token and not portal.oauth_refresh_token:
            return "OAuth portal has neither an access token nor a refresh token"
        return None
    if not portal.webhook_user_id or not portal.webhook_code:
        return "webhook portal needs a webhook user id and webhook code"
    return None
