"""Notifiers for channels: Apprise for its URLs, our own for Bitrix24 chats.

Each has one `notify(message)` that returns when the channel took the message and raises
NotifierError otherwise, saying whether the failure is permanent and, in a few words, what
happened (`result`, what "Send a test" reports). No error message carries the channel's URL or
a piece of it: they are scrubbed with the URL's secrets. Both send through the one outbound
client (checks.net): the address rule on the connected address, BOTWATCH_NOTIFY_TIMEOUT for the
whole delivery, a capped answer, no redirect.
"""

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
from checks.net.client import TransportFailure, request
from checks.net.connection import guarded

# Apprise's plugins log an HTTP failure as "... error=404."; client errors other than these
# will not get better by retrying (a revoked Slack webhook answers 404 for ever).
_HTTP_STATUS = re.compile(r"error=(\d{3})")
RETRYABLE_4XX = {408, 409, 425, 429}
# Bitrix24 answers that pass: limits, overload, the server's own trouble.
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
    """A failed delivery; permanent ones are not retried. `result` says what happened in a few
    words ("refused: private address", "timed out after 10 s", "HTTP 404"), never the URL, in the
    language active when the error was raised (what "Send a test" shows its user)."""

    def __init__(self, message: str, *, permanent: bool = False, result: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.result = str(result or FAILED)


# What "Send a test" reports, in plain words (the HTTP status and Bitrix24's error code stay as they are).
DELIVERED = gettext_lazy("delivered")
FAILED = gettext_lazy("failed")
REFUSED_PRIVATE = gettext_lazy("refused: private address")
TLS_FAILURE = gettext_lazy("TLS failure")
# The one outbound client's reasons (checks.net.client.TransportFailure), as words for people.
TRANSPORT_WORDS = {
    TransportFailure.DNS: gettext_lazy("DNS failure"),
    TransportFailure.REFUSED: gettext_lazy("connection refused"),
    TransportFailure.TLS: TLS_FAILURE,
    TransportFailure.TIMEOUT: gettext_lazy("timeout"),
    TransportFailure.RESET: gettext_lazy("connection reset"),
    TransportFailure.OTHER: gettext_lazy("connection failure"),
    TransportFailure.INVALID_ADDRESS: gettext_lazy("invalid address"),
    TransportFailure.REFUSED_ADDRESS: REFUSED_PRIVATE,
}


def timed_out(shown: str, seconds: float) -> NotifierError:
    return NotifierError(
        f"{shown}: timed out: no complete answer within {seconds:g} s",
        result=_("timed out after %(seconds)s s") % {"seconds": f"{seconds:g}"},
    )


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
        seconds = settings.BOTWATCH_NOTIFY_TIMEOUT
        with capture_apprise_log() as lines:
            plugin = apprise.Apprise.instantiate(self.url, asset=apprise_asset(), suppress_exceptions=True)
            if plugin is None:
                raise NotifierError(f"{mask(self.url)} is not a URL Apprise can use", permanent=True)
            # Apprise's own settings: a limit per read (the guard below bounds the whole delivery),
            # and no redirect followed, whatever the URL's redirect= says (every plugin honours it).
            plugin.socket_connect_timeout = plugin.socket_read_timeout = seconds
            plugin.redirects = False
            with guarded(seconds, MAX_ANSWER) as watch:
                sent = plugin.notify(
                    body=message.body[:MAX_TEXT],
                    title=message.title,
                    notify_type=NOTIFY_TYPES.get(message.kind, apprise.NotifyType.INFO),
                    body_format=apprise.NotifyFormat.TEXT,
                )
        if watch.refused:
            raise NotifierError(f"{mask(self.url)}: {watch.refused}", permanent=True, result=REFUSED_PRIVATE)
        if watch.expired:
            raise timed_out(mask(self.url), seconds)
        if sent:
            return
        said = scrub("; ".join(line for line in lines if line), url_secrets(self.url), self.url)
        status = _HTTP_STATUS.search(said)
        code = int(status.group(1)) if status else 0
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        raise NotifierError(
            said or f"{mask(self.url)}: Apprise reported a failure",
            permanent=permanent,
            result=f"HTTP {code}" if code else FAILED,
        )


class Bitrix24ChatNotifier:
    """Posts with im.message.add through an incoming webhook of the team's own portal.

    Through the one outbound client: the whole exchange within BOTWATCH_NOTIFY_TIMEOUT, the
    answer read up to 64 KB, no redirect followed (it would carry the webhook code elsewhere).
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
        seconds = settings.BOTWATCH_NOTIFY_TIMEOUT
        shown = mask(self.url)
        headers = {"Content-Type": "application/json"}
        reply = request("POST", chat.endpoint, data=body, headers=headers, seconds=seconds, max_body=MAX_ANSWER)
        if reply.failure == TransportFailure.TIMEOUT:
            raise timed_out(shown, seconds)
        if reply.failure == TransportFailure.REFUSED_ADDRESS:
            raise NotifierError(f"{shown}: {reply.detail}", permanent=True, result=REFUSED_PRIVATE)
        if reply.failure == TransportFailure.TLS:
            raise NotifierError(f"{shown}: TLS refused: {reply.detail}", permanent=True, result=TLS_FAILURE)
        if reply.failure is not None:
            raise NotifierError(
                f"{shown}: cannot reach the portal: {reply.failure}",
                result=TRANSPORT_WORDS.get(reply.failure, str(reply.failure)),
            )
        if reply.truncated:
            raise NotifierError(
                f"{shown}: HTTP {reply.http_status} with an answer over {MAX_ANSWER // 1024} KB: not Bitrix24",
                result=f"HTTP {reply.http_status}",
            )
        return reply.http_status, reply.location, reply.body

    def _check(self, status: int, location: str, answer: bytes) -> None:
        shown = mask(self.url)
        if 300 <= status < 400:
            where = urlsplit(location).hostname or "another address"
            raise NotifierError(
                f"{shown}: HTTP {status} redirect to {where}: update the channel's address",
                permanent=True,
                result=f"HTTP {status}",
            )
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
            message = f"{shown}: HTTP {status} {code}: {said}".rstrip(": ")
            raise NotifierError(message, permanent=permanent, result=f"HTTP {status} {code}")
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise NotifierError(
            f"{shown}: HTTP {status}, not a Bitrix24 answer", permanent=permanent, result=f"HTTP {status}"
        )
