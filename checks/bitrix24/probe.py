"""The portal probe: what every run asks of the portal itself, beside its bots.

`server.time` on every run (the call the JS SDK's health check makes), `profile` on every run of a
webhook portal (it answers an empty object when the webhook's user was switched off), `app.info`
at least daily (the app's STATUS, INSTALLED, PAYMENT_EXPIRED and DAYS under OAuth; the plan,
LICENSE, through a webhook too). Sources: https://apidocs.bitrix24.com/api-reference/common/system/server-time.html,
https://apidocs.bitrix24.com/api-reference/common/system/app-info.html.

The calls ride in the first batch of the run where the portal allows batch, else they go first as
single calls, and a failing portal's bots are then not called at all. Pure reading here: the
client makes the calls and hands the answers in; what they say is classified as for any call (a
portal that refuses the call fails). The portal's problems and its `degraded` are the verdict's
(checks.health.portal), not the client's.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from checks.bitrix24.outcome import as_bool, classify_error, clean_text
from checks.bitrix24.types import BotResult
from checks.models import AuthType, Portal
from checks.status import PORTAL_FAILURES, Status

SERVER_TIME = "server.time"
PROFILE = "profile"
APP_INFO = "app.info"
# "At least daily", with room for the runs' jitter.
APP_INFO_EVERY = timedelta(hours=23)
WEBHOOK_USER_OFF = (
    "the webhook's user is switched off: profile answers an empty object (dismissed or deactivated); "
    "the webhook stops working with it"
)


@dataclass(frozen=True)
class ProbeCall:
    key: str  # the batch command's name: never one of the bots' (bot0, events0, commands0)
    method: str


@dataclass(frozen=True)
class AppInfo:
    """app.info as read (app-info.md); None where the answer did not say (a webhook gets LICENSE only)."""

    license: str = ""
    status: str = ""
    installed: bool | None = None
    payment_expired: bool | None = None
    days: int | None = None

    def paid_until(self, today: date) -> date | None:
        """The last day of the app's paid or trial period: today plus DAYS."""
        return today + timedelta(days=self.days) if self.days is not None else None


@dataclass
class PortalResult:
    """The portal's own outcome of one run, in the statuses of a bot's outcome."""

    status: Status = Status.OK
    error_code: str | None = None
    error_description: str = ""
    http_status: int | None = None
    duration_ms: int = 0
    # What the verdict (checks.health.portal) found: checks.health.bot.Problem items; the client sets none.
    problems: list = field(default_factory=list)
    app_info: AppInfo | None = None  # when app.info was called and answered in this run
    notes: list[str] = field(default_factory=list)  # probe calls that got no usable answer
    user_off: bool = False  # profile answered an empty object: the webhook's user is switched off

    @property
    def failing(self) -> bool:
        """The portal fails its bots: they are recorded with this status, not verified one by one."""
        return self.status in PORTAL_FAILURES


def probe_calls(portal: Portal, now: datetime) -> list[ProbeCall]:
    calls = [ProbeCall("probe_time", SERVER_TIME)]
    if portal.auth_type == AuthType.WEBHOOK:
        calls.append(ProbeCall("probe_profile", PROFILE))
    checked = portal.app_info_checked_at
    if checked is None or now - checked >= APP_INFO_EVERY:
        calls.append(ProbeCall("probe_app", APP_INFO))
    return calls


def from_failure(failure: BotResult) -> PortalResult:
    """The portal's outcome when the request itself failed (transport, 5xx, auth, a block): every bot's too."""
    return PortalResult(
        status=failure.status,
        error_code=failure.error_code,
        error_description=failure.error_description,
        http_status=failure.http_status,
        duration_ms=failure.duration_ms,
    )


def apply_answer(result: PortalResult, call: ProbeCall, value: Any, error: tuple[str, str] | None) -> None:
    """Fold one probe call's answer (its `result`, or its error code and description) into the portal's outcome."""
    if error is not None:
        _apply_error(result, call, *error)
        return
    if call.method == SERVER_TIME and not isinstance(value, str):
        result.notes.append(f"{SERVER_TIME}: answer without a time")
    elif call.method == PROFILE:
        _apply_profile(result, value)
    elif call.method == APP_INFO:
        result.app_info = parse_app_info(value)
        if result.app_info is None:
            result.notes.append(f"{APP_INFO}: answer without a readable result")


def _apply_error(result: PortalResult, call: ProbeCall, code: str, description: str) -> None:
    classified = classify_error(code, description, None)
    # app.info may be refused outside an app's context ("Application context required"): not the portal's fault.
    if call.method != APP_INFO and classified.status in PORTAL_FAILURES and not result.failing:
        result.status = classified.status
        result.error_code = code
        result.error_description = f"{call.method} answered {code}: {description or code}"
        return
    result.notes.append(f"{call.method} not answered: {code}")


def _apply_profile(result: PortalResult, value: Any) -> None:
    # profile.md: "If the user is inactive, the object is empty" (PHP sends an empty array as []).
    if isinstance(value, Mapping | list) and not value:
        result.user_off = True
        if not result.failing:
            result.status = Status.AUTH_FAILED
            result.error_description = WEBHOOK_USER_OFF
    elif not isinstance(value, Mapping):
        result.notes.append(f"{PROFILE}: answer without a user")


def parse_app_info(value: Any) -> AppInfo | None:
    if not isinstance(value, Mapping):
        return None
    return AppInfo(
        license=clean_text(value.get("LICENSE"))[:50],
        status=clean_text(value.get("STATUS"))[:2],
        installed=as_bool(value["INSTALLED"]) if "INSTALLED" in value else None,
        payment_expired=as_bool(value["PAYMENT_EXPIRED"]) if "PAYMENT_EXPIRED" in value else None,
        days=_whole(value.get("DAYS")),
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 100_000 else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 7:
        return int(value)
    return None


def not_verified(portal: PortalResult) -> BotResult:
    """A bot's outcome while its portal fails: the portal's status, and the bot not verified (by_portal)."""
    return BotResult(
        bot_pk=None,
        status=portal.status,
        error_code=portal.error_code,
        error_description=f"not verified, the portal failed: {portal.error_description or portal.status}",
        http_status=portal.http_status,
        duration_ms=portal.duration_ms,
        by_portal=True,
    )
