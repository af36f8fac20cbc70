"""Validators of what an admin types about a portal, shared by every way in: the dashboard's
forms, the Django admin, the portal file importer and the REST API. Each raises Django's
ValidationError with a message that never quotes a secret (a URL's user info, a path)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

HTTPS_HINT = "Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http"
BOT_CODE_MAX = 100


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def validate_portal_url(url: str) -> str:
    """The portal's address, without a trailing slash: https (or http when allowed), a host, a valid port."""
    url = str(url).strip()
    if _has_control(url) or " " in url:
        raise ValidationError("The address must not hold spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("The address must be an https:// address with a host name.")
    if parts.scheme == "http" and not settings.BOTWATCH_ALLOW_HTTP:
        raise ValidationError(f"{HTTPS_HINT}.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("The address must not carry a user name or password; give the credentials below.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raw = parts.netloc.rsplit(":", 1)[-1][:10]
        problem = "is out of range" if raw.isdigit() else "is not a port number"
        raise ValidationError(f"Port {raw} {problem} (1-65535).")
    return url.rstrip("/")


def validate_alert_emails(emails: object) -> list[str]:
    """A list of email addresses (empty: the default recipients)."""
    if emails in (None, ""):
        return []
    if not isinstance(emails, list):
        raise ValidationError("Alert emails must be a list of email addresses.")
    for email in emails:
        try:
            validate_email(email)
        except (ValidationError, TypeError):
            shown = repr(email) if len(repr(email)) <= 80 else repr(email)[:77] + "..."
            raise ValidationError(f"{shown} is not an email address.") from None
    return list(emails)


def as_problem(error: ValidationError) -> str:
    """A ValidationError as one line of a problem list: `Port 99999 is out of range (1-65535)`."""
    return " ".join(error.messages).rstrip(".")


def validate_bot_code(code: str) -> str:
    """A bot's code: at most 100 characters, no control characters (it ends up in email subjects)."""
    if len(code) > BOT_CODE_MAX:
        raise ValidationError(f"Code is longer than {BOT_CODE_MAX} characters.")
    if _has_control(code):
        raise ValidationError("Code must not hold control characters (line breaks, tabs).")
    return code
