"""A token broker for OAuth portals: the app's own backend hands out its access token.

Bitrix24 refresh tokens are single-use: a refresh retires the pair it used. When the bot's
backend and BotWatch both hold one chain, whichever refreshes second holds a dead refresh token
and is locked out until someone reinstalls the app. So a portal may name a broker instead:
BotWatch sends `GET broker_url` with `Authorization: Bearer broker_secret` and gets
`{"access_token": "...", "expires_at": ...}` (Unix seconds or ISO 8601), and never refreshes.

The token is kept on the portal row (encrypted, like every secret) until it expires or the
portal refuses it, so workers share it and the broker is asked about once per token lifetime.
Workers asking at the same moment are harmless: the broker only hands out what it holds.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from checks.bitrix24.outcome import (
    TransportFailure,
    classify_transport,
    clean_text,
    error_fields,
    parse_json,
    status_for_code,
)
from checks.bitrix24.types import BotResult
from checks.models import Portal
from checks.net.client import Reply, request
from checks.status import Status

log = logging.getLogger("checks.bitrix24")

MAX_ANSWER = 64 * 1024  # {"access_token", "expires_at"} is a few hundred bytes
# A token this close to its expiry is not sent: it could expire on the way.
EXPIRY_MARGIN = timedelta(seconds=30)


@dataclass
class BrokerResult:
    """What the broker gave (ok, access_token) or why not; shaped like oauth.RefreshResult."""

    ok: bool
    access_token: str = ""
    expires_at: datetime | None = None
    status: Status = Status.AUTH_FAILED
    error_code: str | None = None
    description: str = ""
    http_status: int | None = None
    timed_out: bool = False  # the broker did not answer in time: later bots of the run need not wait too


def needs_token(portal: Portal, now: datetime | None = None) -> bool:
    """Whether the stored access token is missing or about to expire."""
    if not portal.oauth_access_token:
        return True
    expires = portal.oauth_expires_at
    return expires is not None and expires <= (now or timezone.now()) + EXPIRY_MARGIN


def fetch_token(portal: Portal, *, refused: str = "", persist: bool = True) -> BrokerResult:
    """The app's current access token from the portal's broker, set on `portal` (and its row if persist).

    refused: a token the portal just turned down; the broker handing out the same one is a failure.
    """
    headers = {"Authorization": f"Bearer {portal.oauth_broker_secret}", "Accept": "application/json"}
    answer = request(
        "GET", portal.oauth_broker_url, headers=headers, seconds=settings.BITRIX24_TIMEOUT, max_body=MAX_ANSWER
    )
    result = parse_answer(answer)
    if result.ok and refused and result.access_token == refused:
        result = BrokerResult(
            False,
            description="token broker: it handed out the access token the portal has just refused; "
            "the app's backend has not refreshed it",
            http_status=answer.http_status,
        )
    if result.ok:
        _keep(portal, result, persist)
    log.info(
        "portal=%s method=token.broker status=%s http=%s duration_ms=%d",
        portal.name,
        "ok" if result.ok else result.status,
        answer.http_status if answer.failure is None else answer.failure.name.lower(),
        answer.duration_ms,
    )
    return result


def _keep(portal: Portal, result: BrokerResult, persist: bool) -> None:
    portal.oauth_access_token = result.access_token
    portal.oauth_expires_at = result.expires_at
    portal.oauth_refreshed_at = timezone.now()
    if persist and portal.pk is not None:
        Portal.objects.filter(pk=portal.pk).update(
            oauth_access_token=portal.oauth_access_token,
            oauth_expires_at=portal.oauth_expires_at,
            oauth_refreshed_at=portal.oauth_refreshed_at,
        )


def parse_answer(answer: Reply) -> BrokerResult:
    """Pure: the broker's answer classified into verification statuses, with a description that says what to fix."""
    if answer.failure is not None:
        failed = classify_transport(answer.failure, answer.detail)
        return BrokerResult(
            False,
            status=failed.status,
            description=f"token broker: {failed.error_description}",
            timed_out=answer.failure == TransportFailure.TIMEOUT,
        )
    http = answer.http_status
    if answer.truncated:
        return _failed(Status.BAD_RESPONSE, f"answer larger than {MAX_ANSWER // 1024} KB, not read to the end", http)
    payload = parse_json(answer.body)
    error = error_fields(payload)
    if error is not None:
        code, text = error
        return BrokerResult(
            False,
            status=status_for_code(code, http),
            error_code=code,
            description=f"token broker: {code}" + (f": {text}" if text else ""),
            http_status=http,
        )
    if http is not None and not 200 <= http <= 299:
        return _http_failure(answer)
    return _token(payload, http)


def _http_failure(answer: Reply) -> BrokerResult:
    http = answer.http_status
    if 300 <= http <= 399:
        host = urlsplit(answer.location).hostname or "no Location"
        text = f"HTTP {http} to {host}: not followed, the broker secret goes to broker_url alone"
        return _failed(Status.MISCONFIGURED, text, http)
    if http in (401, 403):
        return _failed(Status.AUTH_FAILED, f"HTTP {http}: the broker refused broker_secret", http)
    if http == 404:
        return _failed(Status.MISCONFIGURED, "HTTP 404: nothing answers at broker_url (is the address right?)", http)
    return _failed(status_for_code("", http), f"HTTP {http}", http)


def _token(payload, http: int | None) -> BrokerResult:
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token.strip():
        what = "a JSON object without access_token" if isinstance(payload, dict) else "not a JSON object"
        return _failed(Status.BAD_RESPONSE, f"HTTP {http}: {what}", http)
    try:
        expires = parse_expires_at(payload.get("expires_at"))
    except ValueError as exc:
        return _failed(Status.BAD_RESPONSE, f"HTTP {http}: {exc}", http)
    return BrokerResult(True, access_token=token.strip(), expires_at=expires, status=Status.OK, http_status=http)


def parse_expires_at(value: object) -> datetime | None:
    """Unix seconds or an ISO 8601 time (UTC when it names no zone); None when not given."""
    if value is None:
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (OverflowError, OSError, ValueError):
        pass
    raise ValueError(f"expires_at {clean_text(value)[:40]!r} is neither Unix seconds nor an ISO 8601 time")


def _failed(status: Status, text: str, http: int | None) -> BrokerResult:
    return BrokerResult(False, status=status, description=f"token broker: {text}", http_status=http)


class BrokerCalls:
    """The client's side (mixed into checks.bitrix24.client.Bitrix24Client): a token before a call
    when the stored one is missing or expiring, and again once when the portal refuses it.

    A broker that failed is not asked again in the same run: its failure becomes each bot's outcome.
    """

    portal: Portal
    persist: bool
    _broker_failure: BotResult | None = None

    def broker_token_missing(self) -> BotResult | None:
        """None when a usable access token is stored or was just fetched; else the bots' outcome."""
        if self._broker_failure is None and needs_token(self.portal):
            self._note_broker(fetch_token(self.portal, persist=self.persist))
        return self._broker_failure

    def refetch_from_broker(self, refused: str) -> BrokerResult:
        """After the portal refused `refused`: the broker's current token (never a refresh)."""
        if self._broker_failure is not None:
            failure = self._broker_failure
            return BrokerResult(False, status=failure.status, description=failure.error_description)
        result = fetch_token(self.portal, refused=refused, persist=self.persist)
        self._note_broker(result)
        return result

    def _note_broker(self, result: BrokerResult) -> None:
        if not result.ok:
            self._broker_failure = BotResult(
                bot_pk=None,
                status=result.status,
                error_code=result.error_code,
                error_description=result.description,
                http_status=result.http_status,
            )
