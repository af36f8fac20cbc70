"""Helpers for the alerting tests: portals and bots in the database, verifications recorded with
the bot state the engine's recording statement leaves (checks.engine.pg), and the evaluation after it."""

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Prefetch

from checks.alerts.incidents import evaluate_run
from checks.bitrix24.types import BotResult
from checks.engine.pg import remote_bot_id
from checks.health.bot import config_of
from checks.models import Bot, Incident, IncidentEvent, Notification, Portal, Verification
from checks.status import ResponseFormat, Status

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WEBHOOK_CODE = "whk-s3cret-code-4242"
BOT_TOKEN = "bot-t0ken-secret-9999"

ERRORS = {
    Status.NOT_FOUND: ("BOT_NOT_FOUND", "Bot not found", 400),
    Status.NOT_OWNER: ("", "", 200),
    Status.RATE_LIMITED: ("QUERY_LIMIT_EXCEEDED", "Too many requests", 503),
    Status.AUTH_FAILED: ("NO_AUTH_FOUND", "Wrong authorization data", 401),
    Status.UNREACHABLE: ("", "connection refused", None),
    Status.OK: ("", "", 200),
}
COUNTERS = {"countMessage": 150, "countCommand": 3, "countChat": 12, "countUser": 45}


def make_portal(name: str = "acme", **kwargs) -> Portal:
    defaults = {
        "url": f"https://{name}.bitrix24.com",
        "webhook_user_id": 1,
        "webhook_code": WEBHOOK_CODE,
        "alert_emails": ["support@example.com"],
    }
    return Portal.objects.create(name=name, **{**defaults, **kwargs})


def simulator_portal(simulator, name: str, webhook_code: str, **kwargs) -> Portal:
    """A webhook portal in the simulator and in the database, paced at 50/s so that tests never wait."""
    simulator.add_portal(name, webhook_user_id=1, webhook_code=webhook_code)
    paced = {"pace_rate": 50, "pace_burst": 50}
    return make_portal(name, url=simulator.portal_url(name), webhook_code=webhook_code, **{**paced, **kwargs})


def make_bot(portal: Portal, code: str = "support_bot", **kwargs) -> Bot:
    return Bot.objects.create(portal=portal, code=code, bot_token=kwargs.pop("bot_token", BOT_TOKEN), **kwargs)


def record(bot: Bot, status: Status, at: datetime, description: str | None = None) -> Verification:
    """One verification and the bot's new state, as the engine writes them (one transaction)."""
    code, default_description, http = ERRORS[status]
    ok = status == Status.OK
    result = BotResult(
        bot_pk=bot.pk,
        status=status,
        error_code=code or None,
        error_description=default_description if description is None else description,
        http_status=http,
        response_format=ResponseFormat.EXTENDED if ok else ResponseFormat.NONE,
        counters=dict(COUNTERS) if ok else None,
        fields={"id": 456, "code": bot.code} if ok else {},
    )
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        row = Verification.objects.create(
            bot=bot,
            portal_id=bot.portal_id,
            slot=at,
            checked_at=at,
            status=status,
            error_code=code,
            error_description=result.error_description,
            http_status=http,
            **({"count_message": 150, "count_command": 3, "count_chat": 12, "count_user": 45} if ok else {}),
        )
        apply_result(bot, row, result)
        bot.save()
    return row


def sweep(bots: list[Bot], status: Status, at: datetime, inline: bool = True, **kwargs) -> list[int]:
    """Records `status` for every bot at `at`, then evaluates them together like one portal sweep."""
    rows = [record(bot, status, at, **kwargs) for bot in bots]
    return evaluate_verifications([r.pk for r in rows], inline=inline)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def evaluate_verifications(verification_ids: list[int], *, inline: bool = False) -> list[int]:
    """Incidents from freshly recorded verifications, as after a run that said nothing about its
    portal (checks.alerts.incidents.evaluate_run without portal state); notification ids."""
    portal_id = Verification.objects.filter(pk__in=verification_ids).values_list("portal_id", flat=True).first()
    return evaluate_run(verification_ids, portal_id, None, inline=inline)


def list_incidents(state: str | None = None, portal: Portal | None = None):
    """Incidents, open first then newest; bot, portal and acknowledger joined."""
    if state is not None and state not in Incident.State.values:
        raise ValueError(f"incident state {state!r} is not one of {', '.join(Incident.State.values)}")
    rows = Incident.objects.select_related("bot", "portal", "acknowledged_by")
    if state:
        rows = rows.filter(state=state)
    if portal is not None:
        rows = rows.filter(portal=portal)
    # Index incident_state_time serves this order.
    return rows.order_by("state", "-opened_at")


def incident_timeline(incident: Incident) -> list[IncidentEvent]:
    """The incident's events in order, each with its user and the notifications that reported it."""
    events = incident.events.select_related("user").prefetch_related(
        Prefetch("notifications", queryset=Notification.objects.order_by("created_at"))
    )
    return list(events.order_by("created_at", "pk"))


def apply_result(bot: Bot, row: Verification, result: BotResult) -> None:
    """The bot's state after one verification, as the recording statement sets it."""
    if bot.status != row.status:
        bot.status = row.status
        bot.status_since = row.checked_at
    written = row.pk is not None  # written whole (checks.history.hours.is_detailed)
    if row.status == Status.OK:
        bot.consecutive_failures = 0
        bot.failure_streak = {}
        bot.last_ok_at = row.checked_at
        if written:
            bot.last_ok_verification = row
    else:
        bot.consecutive_failures += 1
        streak = dict(bot.failure_streak or {})
        streak[row.status] = streak.get(row.status, 0) + 1
        bot.failure_streak = streak
    bot.last_checked_at = row.checked_at
    bot.last_error = row.error_code
    bot.last_duration_ms = row.duration_ms
    if written:
        bot.last_verification = row
    if result.counters:
        bot.count_message = row.count_message
        bot.count_command = row.count_command
        bot.count_chat = row.count_chat
        bot.count_user = row.count_user
    if result.fields:
        bot.fields = result.fields
        bot.remote_id = remote_bot_id(result.fields) or bot.remote_id
        bot.users = result.users or []
    bot.problems = row.problems
    bot.event_backlog_s = row.event_backlog_s
    if result.response_format == ResponseFormat.EXTENDED:
        # The first owner's answer pins the id; later ones never move it: another id is the `reregistered` problem.
        bot.pinned_id = bot.pinned_id or remote_bot_id(result.fields)
        bot.baseline = config_of(result.fields)
    if result.command_names is not None:
        bot.commands_seen = result.command_names
        bot.commands_checked_at = row.checked_at
