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

    def __init__(self, message: str, *, permanent: bool = False, result: str = "", reason: str = "failed"):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.result = str(result or FAILED)
        self.reason = reason  # a key of REASONS: what the pages explain, in their reader's language


# What "Send a test" reports, in plain words (the HTTP status and Bitrix24's error code stay as they are).
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


# Why a delivery failed, for the people who fix the channel: what happened, and what to do. The
# error itself (what the service or the library said) is kept beside it, for the curious.
REASONS = {
    "auth": (
        gettext_lazy("The service refused the channel's credentials: its token or webhook was revoked or changed."),
        gettext_lazy("Create a new token or webhook in the service, then update the channel's address."),
    ),
    "gone": (
        gettext_lazy("The address no longer exists at the service: the webhook, channel or topic was deleted."),
        gettext_lazy("Create it again in the service, then update the channel's address."),
    ),
    "limited": (
        gettext_lazy("The service limits how often BotWatch may post."),
        gettext_lazy("BotWatch retries. If it lasts, route fewer alerts to this channel."),
    ),
    "service": (
        gettext_lazy("The service had trouble of its own."),
        gettext_lazy("It usually passes; BotWatch retries for 24 h. If it lasts, check the service's status."),
    ),
    "timeout": (
        gettext_lazy("The service did not answer in time."),
        gettext_lazy("Check that the service is up and reachable from the BotWatch server; BotWatch retries."),
    ),
    "unreachable": (
        gettext_lazy("BotWatch could not connect to the service (name unknown, connection refused or cut)."),
        gettext_lazy("Check the host name in the address, and that the BotWatch server may reach it (firewall, DNS)."),
    ),
    "tls": (
        gettext_lazy("The secure connection failed: the certificate is not valid for this host, or expired."),
        gettext_lazy("Check the host name in the address and the service's certificate."),
    ),
    "private": (
        gettext_lazy("The address leads into a private network, which BotWatch does not call."),
        gettext_lazy(
            "Use the service's public address, or allow private addresses with BOTWATCH_ALLOW_PRIVATE_PORTALS."
        ),
    ),
    "redirect": (
        gettext_lazy("The service sent BotWatch elsewhere; a channel's secrets never follow a redirect."),
        gettext_lazy("Update the channel to the service's new address."),
    ),
    "bad_url": (
        gettext_lazy("The channel's address is not one BotWatch can use."),
        gettext_lazy("Edit the channel on the Notifications page; the examples there show each kind."),
    ),
    "rejected": (
        gettext_lazy("The service refused the message."),
        gettext_lazy("Check the channel's settings in the service (chat, topic, permissions), then send a test."),
    ),
    "failed": (
        gettext_lazy("The delivery failed without the service saying why."),
        gettext_lazy("Send a test and read the technical detail."),
    ),
}
# Bitrix24's codes for a webhook or token that no longer lets BotWatch in.
BITRIX24_AUTH = {"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "expired_token", "invalid_token", "ACCESS_DENIED"}


def reason_of_status(status: int) -> str:
    """The reason an HTTP status stands for."""
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "gone"
    if status == 429:
        return "limited"
    if status >= 500:
        return "service"
    if 300 <= status < 400:
        return "redirect"
    return "rejected" if status >= 400 else "failed"


def timed_out(shown: str, seconds: float) -> NotifierError:
    return NotifierError(
        f"{shown}: timed out: no complete answer within {seconds:g} s",
        result=_("timed out after %(seconds)s s") % {"seconds": f"{seconds:g}"},
        reason="timeout",
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
                raise NotifierError(f"{mask(self.url)} is not a URL Apprise can use", permanent=True, reason="bad_url")
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
            raise NotifierError(
                f"{mask(self.url)}: {watch.refused}", permanent=True, result=REFUSED_PRIVATE, reason="private"
            )
        if watch.expired:
            raise timed_out(mask(self.url), seconds)
        if sent:
            return
        said = scrub("; ".join(line for line in lines if line), url_secrets(self.url), self.url)
        status = _HTTP_STATUS.search(said)
        code = int(status.group(1)) if status else 0
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        # Apprise's plugins say "connection error" when the socket failed before any answer.
        unreachable = "connection" in said.lower()
        raise NotifierError(
            said or f"{mask(self.url)}: Apprise reported a failure",
            permanent=permanent,
            result=f"HTTP {code}" if code else FAILED,
            reason=reason_of_status(code) if code else ("unreachable" if unreachable else "failed"),
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
            raise NotifierError(str(exc), permanent=True, reason="bad_url") from None
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
            raise NotifierError(f"{shown}: {reply.detail}", permanent=True, result=REFUSED_PRIVATE, reason="private")
        if reply.failure == TransportFailure.TLS:
            raise NotifierError(
                f"{shown}: TLS refused: {reply.detail}", permanent=True, result=TLS_FAILURE, reason="tls"
            )
        if reply.failure is not None:
            raise NotifierError(
                f"{shown}: cannot reach the portal: {reply.failure}",
                result=TRANSPORT_WORDS.get(reply.failure, str(reply.failure)),
                reason="unreachable",
            )
        if reply.truncated:
            raise NotifierError(
                f"{shown}: HTTP {reply.http_status} with an answer over {MAX_ANSWER // 1024} KB: not Bitrix24",
                result=f"HTTP {reply.http_status}",
                reason="rejected",
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
                reason="redirect",
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
            reason = "auth" if code in BITRIX24_AUTH else "service" if code in BITRIX24_TRANSIENT else "rejected"
            raise NotifierError(message, permanent=permanent, result=f"HTTP {status} {code}", reason=reason)
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise NotifierError(
            f"{shown}: HTTP {status}, not a Bitrix24 answer",
            permanent=permanent,
            result=f"HTTP {status}",
            reason=reason_of_status(status),
        )
