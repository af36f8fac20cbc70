"""Notifiers for channels: Apprise for its URLs, our own for Bitrix24 chats.

Each has one `notify(message)` that returns when the channel took the message and raises
NotifierError otherwise, saying whether the failure is permanent (STYLE.md). No error message
carries the channel's URL or a piece of it: they are scrubbed with the URL's secrets.
"""

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from django.conf import settings

from checks.alerts.channel_urls import (
    BITRIX24_SCHEMES,
    Bitrix24Chat,
    ChannelURLError,
    apprise_asset,
    capture_apprise_log,
    mask,
    parse_bitrix24_url,
    scheme_of,
    scrub,
    url_secrets,
)

# Apprise's plugins log an HTTP failure as "... error=404."; client errors other than these
# will not get better by retrying (a revoked Slack webhook answers 404 for ever).
_HTTP_STATUS = re.compile(r"error=(\d{3})")
RETRYABLE_4XX = {408, 409, 425, 429}
# Bitrix24 answers that pass: limits, overload, the server's own trouble (SPEC §5).
BITRIX24_TRANSIENT = {
    "QUERY_LIMIT_EXCEEDED",
    "OPERATION_TIME_LIMIT",
    "OVERLOAD_LIMIT",
    "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER",
}
MAX_ANSWER = 64 * 1024  # im.message.add answers a message id; anything larger is not Bitrix24
MAX_TEXT = 4000  # characters of a chat message; the email carries the whole story


class NotifierError(Exception):
    """A failed delivery; permanent ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class ChatMessage:
    """What a channel gets: a short title and body; `kind` is the alert's (opened, resolved, ..., test)."""

    title: str
    body: str
    kind: str = "test"


NOTIFY_TYPES = {
    "opened": apprise.NotifyType.FAILURE,
    "escalated": apprise.NotifyType.FAILURE,
    "reminder": apprise.NotifyType.WARNING,
    "resolved": apprise.NotifyType.SUCCESS,
    "digest": apprise.NotifyType.WARNING,
}


def send_to_channel(url: str, message: ChatMessage) -> None:
    """One attempt to one channel; NotifierError (scrubbed) on any failure, expected or not."""
    notifier = Bitrix24ChatNotifier(url) if scheme_of(url) in BITRIX24_SCHEMES else AppriseNotifier(url)
    try:
        notifier.notify(message)
    except NotifierError:
        raise
    except Exception as exc:
        # Unforeseen errors are recorded and retried; their text may hold the URL, so scrub it.
        text = scrub(f"{exc.__class__.__name__}: {exc}", url_secrets(url), url)
        raise NotifierError(f"unexpected error: {text}") from None


class AppriseNotifier:
    """Any URL Apprise knows; what Apprise says about a failure (its log) becomes the error."""

    def __init__(self, url: str):
        self.url = url

    def notify(self, message: ChatMessage) -> None:
        with capture_apprise_log() as lines:
            plugin = apprise.Apprise.instantiate(self.url, asset=apprise_asset(), suppress_exceptions=True)
            if plugin is None:
                raise NotifierError(f"{mask(self.url)} is not a URL Apprise can use", permanent=True)
            # Per request (connect, then each read); Apprise plugins have no overall deadline.
            plugin.socket_connect_timeout = plugin.socket_read_timeout = settings.BOTWATCH_NOTIFY_TIMEOUT
            sent = plugin.notify(
                body=message.body[:MAX_TEXT],
                title=message.title,
                notify_type=NOTIFY_TYPES.get(message.kind, apprise.NotifyType.INFO),
                body_format=apprise.NotifyFormat.TEXT,
            )
        if sent:
            return
        said = scrub("; ".join(line for line in lines if line), url_secrets(self.url), self.url)
        status = _HTTP_STATUS.search(said)
        code = int(status.group(1)) if status else 0
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        raise NotifierError(said or f"{mask(self.url)}: Apprise reported a failure", permanent=permanent)


class Bitrix24ChatNotifier:
    """Posts with im.message.add through an incoming webhook of the team's own portal.

    The whole exchange has a deadline (BOTWATCH_NOTIFY_TIMEOUT): a watchdog shuts the socket
    down when it passes, so an answer that trickles in cannot hold a worker thread; the answer
    is read up to 64 KB. Redirects are not followed: they would carry the webhook code elsewhere.
    """

    def __init__(self, url: str):
        self.url = url

    def notify(self, message: ChatMessage) -> None:
        try:
            chat = parse_bitrix24_url(self.url, allow_http=settings.BOTWATCH_ALLOW_HTTP)
        except ChannelURLError as exc:
            raise NotifierError(str(exc), permanent=True) from None
        text = f"[B]{message.title}[/B]\n{message.body}"[:MAX_TEXT]
        payload = {"DIALOG_ID": chat.dialog, "MESSAGE": text, "SYSTEM": "N", "URL_PREVIEW": "N"}
        status, location, answer = self._post(chat, json.dumps(payload).encode())
        self._check(status, location, answer)

    def _post(self, chat: Bitrix24Chat, body: bytes) -> tuple[int, str, bytes]:
        deadline = settings.BOTWATCH_NOTIFY_TIMEOUT
        if chat.secure:
            conn = http.client.HTTPSConnection(
                chat.host, chat.port, timeout=deadline, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(chat.host, chat.port, timeout=deadline)
        cut = threading.Event()
        watchdog = threading.Timer(deadline, _shut_down, args=(conn, cut))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.connect()
            if cut.is_set():
                raise TimeoutError
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            conn.request("POST", chat.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(MAX_ANSWER + 1)
            return response.status, response.getheader("Location") or "", answer
        except ssl.SSLCertVerificationError as exc:
            raise NotifierError(
                f"{mask(self.url)}: TLS certificate refused: {exc.verify_message}", permanent=True
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            if cut.is_set():
                raise NotifierError(f"{mask(self.url)}: no complete answer within {deadline:g} s") from None
            raise NotifierError(f"{mask(self.url)}: cannot reach the portal: {exc.__class__.__name__}") from None
        finally:
            watchdog.cancel()
            conn.close()

    def _check(self, status: int, location: str, answer: bytes) -> None:
        shown = mask(self.url)
        if 300 <= status < 400:
            where = urlsplit(location).hostname or "another address"
            raise NotifierError(
                f"{shown}: HTTP {status} redirect to {where}: update the channel's address", permanent=True
            )
        if len(answer) > MAX_ANSWER:
            raise NotifierError(f"{shown}: HTTP {status} with an answer over {MAX_ANSWER // 1024} KB: not Bitrix24")
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if status == 200 and isinstance(data, dict) and data.get("result"):
            return
        if isinstance(data, dict) and data.get("error"):
            code = str(data["error"])[:100]
            said = scrub(str(data.get("error_description") or "")[:300], url_secrets(self.url), self.url)
            permanent = status < 500 and code not in BITRIX24_TRANSIENT
            raise NotifierError(f"{shown}: HTTP {status} {code}: {said}".rstrip(": "), permanent=permanent)
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise NotifierError(f"{shown}: HTTP {status}, not a Bitrix24 answer", permanent=permanent)


def _shut_down(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    """The deadline passed: unblock whatever the connection waits for (connect, send, headers, body)."""
    cut.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
