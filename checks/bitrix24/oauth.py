"""OAuth token refresh, at most one at a time per portal across every process and machine.

Bitrix24 refresh tokens rotate: a refresh invalidates the pair it used (reference §2.3). Two
workers refreshing the same portal at once would leave one of them, and then the portal,
with a dead refresh token. So a refresh takes a lease on `Portal.oauth_refresh_lock_until`
with a conditional UPDATE (it expires, so a killed holder blocks nobody for long); the
others wait, re-read the tokens, and use the winner's new access token.

Refresh happens only after the portal said `expired_token`/`invalid_token`, never on a
schedule: Bitrix24 may block apps that refresh too often.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from checks.bitrix24.outcome import ADDRESS_FAILURES, TransportFailure, error_fields, parse_json, status_for_http
from checks.bitrix24.transport import exchange
from checks.models import Portal
from checks.net.deadline import BudgetSpent
from checks.status import Status

log = logging.getLogger("checks.bitrix24")

# Errors after which the access token might be cured by a refresh.
REFRESHABLE = frozenset({"expired_token", "invalid_token"})
# What a refresh changes on the Portal row, and so what others must re-read after one.
TOKEN_FIELDS = (
    "oauth_access_token",
    "oauth_refresh_token",
    "oauth_expires_at",
    "oauth_refreshed_at",
    "oauth_refresh_issued_at",
)
WAIT_STEP_S = 0.1
MAX_TOKEN_BODY = 64 * 1024  # a token answer is a few hundred bytes


@dataclass
class RefreshResult:
    ok: bool
    access_token: str = ""
    status: Status = Status.AUTH_FAILED
    error_code: str | None = None
    description: str = ""
    http_status: int | None = None
    timed_out: bool = False  # the OAuth server did not answer in time


def lock_ttl() -> timedelta:
    # Longer than one refresh request can take, so a live holder never loses its lease.
    return timedelta(seconds=2 * settings.BITRIX24_TIMEOUT + 5)


def refresh_access_token(
    portal: Portal,
    session: requests.Session,
    failed_token: str,
    *,
    persist: bool,
    max_wait: float | None = None,
    seconds: float | None = None,
) -> RefreshResult:
    """A working access token after `failed_token` was refused; rotated tokens land on `portal`.

    max_wait: seconds this may wait for another worker's refresh before BudgetSpent (the run's
    time); seconds: what the exchange with the OAuth server may take (BITRIX24_TIMEOUT).
    """
    if not portal.oauth_refresh_token or not portal.oauth_client_id:
        missing = "refresh token" if not portal.oauth_refresh_token else "OAuth client id"
        return RefreshResult(False, description=f"access token refused and no {missing} is stored to refresh it")
    if not persist:
        # A refresh retires the refresh token it uses; with nowhere to store the new pair (a
        # "test connection" on unsaved objects) it would cut the saved portal off for good.
        return RefreshResult(
            False,
            description="access token refused; a test connection does not refresh it, because the refresh "
            "token would rotate and the new one could not be stored (the worker refreshes it on its next check)",
        )
    return _refresh_shared(portal, session, failed_token, max_wait, seconds or exchange_seconds())


def _refresh_shared(
    portal: Portal, session: requests.Session, failed_token: str, max_wait: float | None, seconds: float
) -> RefreshResult:
    started = time.monotonic()
    deadline = started + lock_ttl().total_seconds() + 1
    while True:
        if _reload_tokens(portal) and portal.oauth_access_token != failed_token:
            return RefreshResult(True, access_token=portal.oauth_access_token)  # another worker refreshed
        lease = _take_lock(portal.pk)
        if lease is not None:
            return _refresh_holding(portal, session, failed_token, lease, seconds)
        if time.monotonic() > deadline:
            return RefreshResult(False, description="another worker's token refresh did not finish in time")
        if max_wait is not None and time.monotonic() - started > max_wait:
            raise BudgetSpent
        time.sleep(WAIT_STEP_S)


def _refresh_holding(
    portal: Portal, session: requests.Session, failed_token: str, lease: datetime, seconds: float
) -> RefreshResult:
    try:
        # The previous holder may have finished between our read and our lock.
        _reload_tokens(portal)
        if portal.oauth_access_token != failed_token:
            return RefreshResult(True, access_token=portal.oauth_access_token)
        result = _refresh_now(portal, session, seconds)
        if result.ok:
            _save_tokens(portal)
        return result
    finally:
        Portal.objects.filter(pk=portal.pk, oauth_refresh_lock_until=lease).update(oauth_refresh_lock_until=None)


def _take_lock(portal_pk: int) -> datetime | None:
    now = timezone.now()
    lease = now + lock_ttl()
    free = Q(oauth_refresh_lock_until__isnull=True) | Q(oauth_refresh_lock_until__lt=now)
    taken = Portal.objects.filter(free, pk=portal_pk).update(oauth_refresh_lock_until=lease)
    return lease if taken else None


def _reload_tokens(portal: Portal) -> bool:
    """The row's current tokens onto `portal`; False when the portal was deleted meanwhile."""
    try:
        portal.refresh_from_db(fields=TOKEN_FIELDS)
    except Portal.DoesNotExist:
        return False
    return True


def _save_tokens(portal: Portal) -> None:
    # Unconditional on the token columns: the old refresh token is dead now, losing the new
    # pair would cut BotWatch off the portal until someone re-authorizes the app.
    Portal.objects.filter(pk=portal.pk).update(**{name: getattr(portal, name) for name in TOKEN_FIELDS})


@sensitive_variables("params")
def _refresh_now(portal: Portal, session: requests.Session, seconds: float) -> RefreshResult:
    """One GET to the OAuth server; on success the new pair is set on `portal` (not saved)."""
    params = {
        "grant_type": "refresh_token",
        "client_id": portal.oauth_client_id,
        "client_secret": portal.oauth_client_secret,
        "refresh_token": portal.oauth_refresh_token,
    }
    url = settings.BITRIX24_OAUTH_URL
    answer = exchange(session, "GET", url, params=params, seconds=seconds, max_body=MAX_TOKEN_BODY)
    if answer.failure is not None:
        _log(portal, "transport failure", answer.duration_ms)
        return RefreshResult(
            False,
            status=Status.MISCONFIGURED if answer.failure in ADDRESS_FAILURES else Status.UNREACHABLE,
            description=f"token refresh: {answer.failure.value}: {answer.detail}",
            timed_out=answer.failure == TransportFailure.TIMEOUT,
        )
    result = _parse_refresh(portal, answer.http_status, b"" if answer.truncated else answer.body)
    _log(portal, result.error_code or ("ok" if result.ok else result.status), answer.duration_ms)
    return result


def _parse_refresh(portal: Portal, http_status: int, body: bytes) -> RefreshResult:
    payload = parse_json(body)
    error = error_fields(payload)
    if error is not None:
        code, text = error
        return RefreshResult(
            False, error_code=code, description=f"token refresh failed: {text or code}", http_status=http_status
        )
    tokens = _token_pair(payload) if 200 <= http_status <= 299 else None
    if tokens is None:
        status = Status.AUTH_FAILED if 200 <= http_status <= 299 else status_for_http(http_status)
        return RefreshResult(
            False,
            status=status,
            description=f"token refresh: HTTP {http_status} without tokens",
            http_status=http_status,
        )
    portal.oauth_access_token, portal.oauth_refresh_token = tokens
    portal.oauth_expires_at = _expires_at(payload)
    portal.oauth_refreshed_at = timezone.now()
    portal.oauth_refresh_issued_at = portal.oauth_refreshed_at  # a refresh rotates the refresh token too
    return RefreshResult(True, access_token=portal.oauth_access_token, status=Status.OK, http_status=http_status)


def _token_pair(payload) -> tuple[str, str] | None:
    if not isinstance(payload, dict):
        return None
    access, refresh = payload.get("access_token"), payload.get("refresh_token")
    if isinstance(access, str) and access and isinstance(refresh, str) and refresh:
        return access, refresh
    return None


def _expires_at(payload: dict) -> datetime | None:
    expires, expires_in = payload.get("expires"), payload.get("expires_in")
    try:
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            return datetime.fromtimestamp(expires, UTC)
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            return timezone.now() + timedelta(seconds=expires_in)
    except (OverflowError, OSError, ValueError):
        return None
    return None


def exchange_seconds() -> float:
    """BITRIX24_TIMEOUT: the seconds one exchange may take, from name resolution to the last byte."""
    return settings.BITRIX24_TIMEOUT


def _log(portal: Portal, outcome, duration_ms: int) -> None:
    # Never the URL's query: it carries client_secret and refresh_token.
    log.info("portal=%s method=oauth.refresh status=%s duration_ms=%d", portal.name, outcome, duration_ms)
