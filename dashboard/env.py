"""Parsing of environment variables: each helper names the variable in its error."""

import ipaddress
import os
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from checks.alerts.channel_urls import ChannelURLError, validate_channel_list

_MISSING = object()
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def _raw(name: str, default: object) -> object:
    value = os.environ.get(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is not set: this environment variable is required")
        return default
    return value.strip()


def env_str(name: str, default: object = _MISSING) -> str:
    value = _raw(name, default)
    if value == "" and default is _MISSING:
        raise ImproperlyConfigured(f"{name} is empty: this environment variable is required")
    return str(value)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name, default)
    if isinstance(value, bool):
        return value
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    _check_range(name, number, minimum, maximum)
    return number


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    value = _raw(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None
    _check_range(name, number, minimum, None)
    return number


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}")


def env_choice(name: str, default: str, choices: list[str]) -> str:
    """One of a few fixed values, e.g. a language code."""
    value = str(_raw(name, default))
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


RATE_PERIODS = ("second", "minute", "hour", "day")


def env_rate(name: str, default: str) -> str:
    """A request rate such as 600/minute (Django REST framework's throttle format)."""
    value = str(_raw(name, default))
    count, _, period = value.partition("/")
    if not (count.isdigit() and int(count) > 0 and period in RATE_PERIODS):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: give requests per period, e.g. 600/minute ({', '.join(RATE_PERIODS)})"
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name, None)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks (`10.0.0.5`, `172.16.0.0/12`, `::1`); `0` or empty is none."""
    items = env_list(name, [])
    if items == ["0"]:
        return []
    networks = []
    for item in items:
        if item.isdigit():
            raise ImproperlyConfigured(
                f"{name}={item} is a count of proxies; it now lists their addresses or networks "
                "(e.g. 10.0.0.5 or 172.16.0.0/12), and 0 or empty means none"
            )
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from None
    return networks


def env_emails(name: str) -> list[str]:
    emails = env_list(name, [])
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            raise ImproperlyConfigured(f"{name}: {email!r} is not an email address") from None
    return emails


def env_channel_urls(name: str, *, allow_http: bool) -> list[str]:
    """Whitespace-separated notification URLs; a bad one is named by position and mask, never echoed."""
    try:
        return validate_channel_list(name, str(_raw(name, "")), allow_http=allow_http)
    except ChannelURLError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def env_url(name: str, default: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = str(_raw(name, default))
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}: {_safe(value)!r} must start with one of {', '.join(s + '://' for s in schemes)}"
        )
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise ImproperlyConfigured(f"{name}: {_safe(value)!r} has no host name")
    return value


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """`HTTP_X_FORWARDED_PROTO,https` -> ("HTTP_X_FORWARDED_PROTO", "https"); unset or empty -> None."""
    value = str(_raw(name, ""))
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(","))
    if not header.startswith("HTTP_") or not expected or " " in header:
        raise ImproperlyConfigured(
            f"{name}={value!r} must be the header as Django names it and the value that means https, "
            "e.g. HTTP_X_FORWARDED_PROTO,https"
        )
    return header, expected


def parse_database_url(name: str, default: str, pool_size: int = 40) -> dict:
    """A postgres:// URL; a socket folder as `?host=/path` (the embedded server's form) becomes HOST."""
    value = str(_raw(name, default))
    if urlsplit(value).scheme not in ("postgres", "postgresql", "pgsql"):
        raise ImproperlyConfigured(
            f"{name}: {_safe(value)!r} must be a postgres:// URL (BotWatch runs on PostgreSQL only; "
            f"leave {name} unset for the embedded one)"
        )
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises assorted errors on garbled URLs
        raise ImproperlyConfigured(f"{name} cannot be parsed: {type(exc).__name__}") from None
    options = config.setdefault("OPTIONS", {})
    if "host" in options:
        config["HOST"] = options.pop("host")
    # A pool of connections per process (psycopg_pool through Django). Celery's Django
    # fixup closes the database connection before and after every task, so without a
    # pool each verification paid a new PostgreSQL connection and a backend with cold
    # caches; closing now hands the connection back. Checked when handed out, so one
    # lost on a database restart is replaced rather than failing a request.
    config["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    config["CONN_HEALTH_CHECKS"] = True
    options["pool"] = {"min_size": 2, "max_size": pool_size, "timeout": 30}
    return config


def parse_secret_keys(name: str) -> list[str]:
    keys = env_list(name, [])
    if not keys:
        raise ImproperlyConfigured(
            f"{name} is not set: give one or more comma-separated keys (newest first) that encrypt stored credentials"
        )
    for position, key in enumerate(keys, start=1):
        if len(key) < 16:
            raise ImproperlyConfigured(f"{name}: key {position} is shorter than 16 characters")
    return keys


def _safe(url: str) -> str:
    """A URL with any password replaced, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url
