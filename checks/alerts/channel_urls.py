"""Channel URLs: one validator for every place they come from, masks, fingerprints, their secrets.

A channel is an Apprise URL (`slack://`, `tgram://`, `msteams://`, `ntfy://`, `json://`, ...) or
a Bitrix24 chat (`bitrix24s://portal/rest/USER_ID/CODE/?dialog=chatN`). The URL is a secret:
tokens and webhook codes live in it. It is never logged, shown or put in an error message:
pages and errors show `mask()` (scheme and host at most), rows are told apart by `fingerprint()`.

No database here, so settings can check BOTWATCH_NOTIFY_URLS at start-up with it.
"""

import hashlib
import hmac
import ipaddress
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import apprise
from django.conf import settings

# Apprise logs a bad URL whole, tokens included ("Could not load Slack URL: slack://..."), and
# its plugins log request URLs at DEBUG: nothing of it may reach a log handler. Its lines are
# read by capture_apprise_log() only, and scrubbed before they are stored or shown.
APPRISE_LOG = logging.getLogger("apprise")
APPRISE_LOG.propagate = False
APPRISE_LOG.addHandler(logging.NullHandler())
APPRISE_LOG.setLevel(logging.WARNING)

BITRIX24_SCHEMES = {"bitrix24": "http", "bitrix24s": "https"}
MAX_URL = 2000
SHORTEST_SECRET = 4  # shorter pieces would redact ordinary words from error messages
_BITRIX24_PATH = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)/rest/(?P<user>\d+)/(?P<code>[^/]+)/?$")
_DIALOG = re.compile(r"^(chat|sg)?\d+$", re.IGNORECASE)
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
REDACTED = "[redacted]"
# Path segments of well-known webhook addresses that are no secret (kept readable in errors).
PLAIN_SEGMENTS = {"rest", "services", "hooks", "webhook", "webhooks", "api", "notify", "im.message.add.json"}


class ChannelURLError(ValueError):
    """A channel URL BotWatch cannot use; the message never contains the URL's secrets."""


@dataclass(frozen=True)
class Bitrix24Chat:
    """Where a Bitrix24 chat channel posts: the incoming webhook's im.message.add, and the dialog."""

    endpoint: str  # https://host[:port][/prefix]/rest/USER_ID/CODE/im.message.add.json
    host: str
    port: int | None
    secure: bool
    path: str
    dialog: str
    code: str


def is_channel_url(value: str) -> bool:
    """A route target is a channel URL or an email address; only URLs have a scheme."""
    return "://" in value


def validate_channel_url(url: object, *, allow_http: bool) -> str:
    """The URL, stripped, if BotWatch can send to it; ChannelURLError (masked) otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise ChannelURLError("a channel URL must be a non-empty string")
    url = url.strip()
    if len(url) > MAX_URL:
        raise ChannelURLError(f"{mask(url)}: longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ChannelURLError(f"{mask(url)}: a URL cannot contain spaces or control characters")
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        raise ChannelURLError("not a URL: a channel is scheme://..., e.g. slack://, tgram://, json://")
    if scheme_of(url) in BITRIX24_SCHEMES:
        parse_bitrix24_url(url, allow_http=allow_http)
        return url
    problem = apprise_problem(url)
    if problem is not None:
        raise ChannelURLError(f"{mask(url)} is not a notification URL Apprise can use: {problem}")
    return url


def apprise_problem(url: str) -> str | None:
    """None when Apprise can build a notifier for the URL, else why not (scrubbed)."""
    with capture_apprise_log() as lines:
        plugin = apprise.Apprise.instantiate(url, asset=apprise_asset(), suppress_exceptions=True)
    if plugin is not None:
        return None
    said = scrub("; ".join(lines), url_secrets(url), url)
    return said or "unknown scheme or missing parts"


def apprise_asset() -> apprise.AppriseAsset:
    # Memory only: Apprise may otherwise keep state (tokens it looked up) in files of its own.
    return apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)


class _ThreadLines(logging.Handler):
    """Apprise's log lines of one thread: worker threads deliver side by side."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage().strip())


# Threads sending to a channel right now: urllib3 logs their request lines at DEBUG, and a
# channel's path is its token ("POST /services/T000/B000/XXXX"); those lines are dropped.
_SENDING: set[int] = set()


class _DropWhileSending(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in _SENDING


for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_DropWhileSending())


@contextmanager
def capture_apprise_log() -> Iterator[list[str]]:
    """What Apprise says (WARNING and up) while the block runs in this thread; unscrubbed.

    Meanwhile urllib3's lines of this thread are dropped: they carry the channel's path.
    """
    handler = _ThreadLines()
    thread = threading.get_ident()
    APPRISE_LOG.addHandler(handler)
    _SENDING.add(thread)
    try:
        yield handler.lines
    finally:
        _SENDING.discard(thread)
        APPRISE_LOG.removeHandler(handler)


def parse_bitrix24_url(url: str, *, allow_http: bool) -> Bitrix24Chat:
    """`bitrix24s://HOST[:PORT][/PREFIX]/rest/USER_ID/CODE/?dialog=chatN` (bitrix24:// is plain HTTP)."""
    scheme = scheme_of(url)
    secure = BITRIX24_SCHEMES[scheme] == "https"
    shown = mask(url)
    if not secure and not allow_http:
        raise ChannelURLError(
            f"{shown}: bitrix24:// is plain HTTP, which Bitrix24 refuses; use bitrix24s:// "
            "(or set BOTWATCH_ALLOW_HTTP=1 for a test portal)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ChannelURLError(f"{shown}: the host or port cannot be read") from None
    if not parts.hostname or parts.username or parts.password:
        raise ChannelURLError(f"{shown}: give the portal's host, without a user name or password")
    match = _BITRIX24_PATH.match(parts.path)
    if not match:
        raise ChannelURLError(f"{shown}: the path must end in /rest/USER_ID/WEBHOOK_CODE/ (the incoming webhook)")
    dialog = (parse_qs(parts.query).get("dialog") or [""])[0]
    if not _DIALOG.match(dialog):
        raise ChannelURLError(f"{shown}: add ?dialog=chatNN (a chat) or ?dialog=NN (a user) to say where to post")
    base = f"{BITRIX24_SCHEMES[scheme]}://{parts.netloc}{match['prefix']}/rest/{match['user']}/{match['code']}"
    return Bitrix24Chat(
        endpoint=f"{base}/im.message.add.json",
        host=parts.hostname,
        port=port,
        secure=secure,
        path=f"{match['prefix']}/rest/{match['user']}/{match['code']}/im.message.add.json",
        dialog=dialog,
        code=unquote(match["code"]),
    )


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower()


def mask(url: str) -> str:
    """scheme://host when the host is a real host name or address, else scheme://… (tokens sit there)."""
    scheme = scheme_of(url) if "://" in url else "?"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return f"{scheme}://{host if _is_host_name(host) else '…'}"


def _is_host_name(host: str) -> bool:
    # A Slack or Telegram token sits where the host would be; host names have dots, tokens don't.
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(labels) >= 2 and labels[-1].isalpha() and all(_HOST_LABEL.match(label) for label in labels)


def fingerprint(url: str) -> str:
    """A keyed hash that tells channels apart without the URL; an ntfy topic cannot be guessed back."""
    key = hashlib.sha256(b"botwatch channel fingerprint\0" + settings.BOTWATCH_SECRET_KEYS[0].encode()).digest()
    return hmac.new(key, url.strip().encode(), hashlib.sha256).hexdigest()


def label(url: str) -> str:
    """What pages show for a channel: its mask and the start of its fingerprint (two json:// apart)."""
    return f"{mask(url)} #{fingerprint(url)[:6]}"


def url_secrets(url: str, shortest: int = SHORTEST_SECRET) -> list[str]:
    """The pieces of a URL that may be secret, longest first: user, password, token hosts, path, query values."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return [url]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    pieces = [url]
    if userinfo:
        pieces += [userinfo, *userinfo.split(":")]
    if not _is_host_name(host):
        pieces += [hostport, *hostport.split(":")]
    pieces += [segment for segment in parts.path.split("/") if segment.lower() not in PLAIN_SEGMENTS]
    pieces += [value for values in parse_qs(parts.query).values() for value in values]
    found = {p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= shortest}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str], url: str | None = None) -> str:
    """Text with the URL masked and every secret piece replaced."""
    placeholder = "\x00channel\x00"
    if url:
        text = text.replace(url, placeholder)
        # Apprise's own "privacy" form keeps a token's first and last characters (slack://x...t).
        text = re.sub(rf"{re.escape(scheme_of(url))}://[^\s;,)]*", placeholder, text, flags=re.IGNORECASE)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text.replace(placeholder, mask(url)) if url else text


def validate_channel_list(name: str, value: str, *, allow_http: bool) -> list[str]:
    """BOTWATCH_NOTIFY_URLS: whitespace-separated URLs; the error names the variable and the item, masked."""
    urls = []
    for position, url in enumerate(value.split(), start=1):
        try:
            urls.append(validate_channel_url(url, allow_http=allow_http))
        except ChannelURLError as exc:
            raise ChannelURLError(f"{name}: URL {position}: {exc}") from None
    return list(dict.fromkeys(urls))
