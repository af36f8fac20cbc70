"""Recording a run: every check in its bot's packed hour, the checks with something to say as
whole verification rows, bot states, tallies and the claim's release, all or nothing.

The claim token and the unique (bot, slot) constraint make a redelivered task write nothing
twice. PostgreSQL takes the one-statement path of checks.engine.pg.
"""

import logging
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from checks import checklog, hourly
from checks.alerts.incidents import evaluate_run
from checks.bitrix24.probe import PortalResult
from checks.bitrix24.types import BotResult
from checks.engine import pg
from checks.engine.claims import LostClaim, interval_for, lease_until, next_due, next_portal_check, release_claim
from checks.engine.hours import add_check, add_to_tally, pack_check, store_hours
from checks.engine.portal_state import portal_changes, state_document
from checks.engine.runs import Run
from checks.health.bot import config_changes, config_of, describe_changes
from checks.models import Bot, BotEvent, Portal, Verification
from checks.status import ResponseFormat, Status, needs_alerting, problem_keys

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 2000
VERIFICATION_ATTNAMES = [f.attname for f in Verification._meta.concrete_fields]


def changed_since(bot: Bot, manual: bool, result: BotResult, problems: list[dict]) -> bool:
    """Whether this verification says something the bot's last one did not (kept as a change row).

    Compared with the state the run read: a concurrent manual run may make one row too many, never
    one too few of a status change, as the manual row is itself a change.
    """
    if manual or bot.last_checked_at is None:
        return True
    return (
        result.status != bot.status
        or (result.error_code or "")[:100] != bot.last_error
        or problem_keys(problems) != problem_keys(bot.problems)
    )


def build_verification(run: Run, bot: Bot, result: BotResult, checked_at: datetime) -> Verification:
    counters = result.counters or {}
    problems = [problem.as_json() for problem in result.problems]
    values = {
        "bot_id": bot.pk,
        "portal_id": run.portal.pk,
        "slot": run.slots[bot.pk],
        "checked_at": checked_at,
        "status": result.status,
        "error_code": (result.error_code or "")[:100],
        "error_description": (result.error_description or "")[:MAX_DESCRIPTION],
        "http_status": result.http_status,
        "duration_ms": max(0, int(result.duration_ms or 0)),
        "response_format": result.response_format,
        "count_message": counters.get("countMessage"),
        "count_command": counters.get("countCommand"),
        "count_chat": counters.get("countChat"),
        "count_user": counters.get("countUser"),
        "operating": result.operating,
        "redirect_url": (result.redirect_url or "")[:500],
        "manual": run.manual,
        "problems": problems,
        "event_backlog_s": result.event_backlog_s,
        "by_portal": result.by_portal,
        "changed": changed_since(bot, run.manual, result, problems),
    }
    # Positional, every column given (the id None): a third of the CPU of keyword arguments,
    # which Model.__init__ takes one field at a time.
    return Verification(*[values.get(name) for name in VERIFICATION_ATTNAMES])


def record_results(
    run: Run, results: list[BotResult], *, portal: PortalResult | None = None, inline_alerts: bool = False
) -> list[Verification]:
    """The run's verifications, bot states and the portal's own state (`portal`: what its probe said)."""
    checked_at = timezone.now()
    rows = [build_verification(run, bot, result, checked_at) for bot, result in zip(run.bots, results, strict=True)]
    document = state_document(portal, checked_at)
    try:
        rows, for_alerting, portal_alerting = write_results(run, rows, results, checked_at, document)
    except IntegrityError as exc:
        # Another run recorded some of these slots first (a lease that expired under a
        # slow worker), or a bot was deleted meanwhile: keep what is already there. The
        # database's message names the constraint, so an unexpected one is not mistaken
        # for these (rows hold no secret: descriptions are redacted by the client).
        log.warning("portal %s: verifications not recorded (slot taken or bot deleted): %s", run.portal.pk, exc)
        return []
    if for_alerting or portal_alerting:
        # Runs now in autocommit (the write is committed), or when the caller's transaction commits.
        portal_at = checked_at if portal_alerting else None
        transaction.on_commit(lambda: hand_to_alerting(for_alerting, run.portal.pk, portal_at, inline=inline_alerts))
    return rows


def write_results(
    run: Run, rows: list[Verification], results: list[BotResult], now: datetime, document: dict | None = None
) -> tuple[list[Verification], list[int], bool]:
    """Checks, bot states, the portal's state (`document`, checks.engine.portal_state) and the claim's
    release, all or nothing.

    Returns the rows recorded (a bot deleted meanwhile has none; those written whole have their
    pk), the ids of those that alerting must look at, and whether it must look at the portal.
    Raises LostClaim when a scheduled run's claim is no longer held.
    """
    document = document or {"status": None}
    by_bot = {bot.pk: result for bot, result in zip(run.bots, results, strict=True)}
    # Every row of a run has the same time, so the same local hour.
    hour = hourly.hour_start(rows[0].checked_at) if rows else None
    entries = {row.bot_id: pack_check(row, hour) for row in rows}
    # One next time for the whole run: a portal's bots stay together in one batch, and the
    # jitter spreads the portals.
    next_at = next_due(now, interval_for(run.portal)) if run.scheduled else None
    redirected_to = last_redirect(results) if run.scheduled else None
    events = config_events(run, results, now)
    if connection.vendor != "postgresql":
        with transaction.atomic():
            written, alerting, portal_alerting = _write_portable(
                run, rows, by_bot, entries, next_at, redirected_to, document
            )
            save_events(events, written)
            return written, alerting, portal_alerting
    # One statement: a transaction of its own in autocommit (the workers); inside a caller's
    # transaction a savepoint, so that a refused write leaves that transaction usable. A run
    # that saw configuration changes writes their events in the same transaction (rare).
    with transaction.atomic() if connection.in_atomic_block or events else nullcontext():
        recorded = pg.record(
            rows,
            by_bot,
            entries,
            portal_id=run.portal.pk,
            token=run.token,
            next_at=next_at,
            redirected_to=redirected_to,
            batch_supported=run.portal.batch_supported if run.scheduled else None,
            portal_state=document,
        )
        if recorded.held:
            save_events(events, recorded.rows)
    if not recorded.held:
        raise LostClaim
    return recorded.rows, recorded.for_alerting, recorded.portal_alerting


def save_events(events: list[BotEvent], written: list[Verification]) -> None:
    kept = {row.bot_id for row in written}
    if events := [event for event in events if event.bot_id in kept]:
        BotEvent.objects.bulk_create(events)


STATE_FIELDS = [
    "status",
    "status_since",
    "consecutive_failures",
    "failure_streak",
    "next_check_at",
    "last_checked_at",
    "last_ok_at",
    "last_error",
    "last_duration_ms",
    "last_verification",
    "last_ok_verification",
    "count_message",
    "count_command",
    "count_chat",
    "count_user",
    "remote_id",
    "fields",
    "users",
    "problems",
    "event_backlog_s",
    "pinned_id",
    "baseline",
    "commands_seen",
    "commands_checked_at",
    "hour_checks",
    "hour_start",
]


def _write_portable(
    run: Run,
    rows: list[Verification],
    by_bot: dict[int, BotResult],
    entries: dict[int, checklog.PackedCheck],
    next_at: datetime | None,
    redirected_to: str | None,
    document: dict,
) -> tuple[list[Verification], list[int], bool]:
    """write_results on SQLite, inside its transaction: statement by statement."""
    # A scheduled run first proves that the lease is still ours.
    held = Portal.objects.filter(pk=run.portal.pk, claim_token=run.token)
    if run.scheduled and not held.update(claimed_until=lease_until(timezone.now())):
        raise LostClaim
    portal_state, portal_alerting = portal_changes(run.portal.pk, document)
    # Bots deleted while their check was in flight would fail the foreign keys at commit.
    alive = set(Bot.objects.filter(pk__in=[r.bot_id for r in rows]).values_list("pk", flat=True))
    rows = [r for r in rows if r.bot_id in alive]
    for_alerting = update_bot_states(run, rows, by_bot, entries, next_at) if rows else []
    if rows:
        add_to_tally(run.portal.pk, [row.status for row in rows], rows[0].checked_at)
    if run.scheduled:
        changes = {"next_check_at": next_portal_check(run.portal.pk), **portal_state}
        if redirected_to:
            changes["redirected_to"] = redirected_to
        if run.portal.batch_supported is not None:  # what a first batch learned; a known answer stays
            changes["batch_supported"] = Coalesce(F("batch_supported"), Value(run.portal.batch_supported))
        release_claim(run.portal.pk, run.token, **changes)
    elif portal_state:
        Portal.objects.filter(pk=run.portal.pk).update(**portal_state)
    return rows, for_alerting, portal_alerting


def update_bot_states(
    run: Run,
    rows: list[Verification],
    by_bot: dict[int, BotResult],
    entries: dict[int, checklog.PackedCheck],
    next_at: datetime | None,
) -> list[int]:
    """Write the checks that say something whole, add every check to its bot's hour and apply it
    to its bot; returns the ids of the rows alerting must look at."""
    bots = {bot.pk: bot for bot in run.bots}
    # Re-read the state under lock: a manual `verify` may have moved it since the run began.
    # Plain values onto the run's own objects: no second decryption of every bot token.
    for state in Bot.objects.select_for_update().filter(pk__in=[r.bot_id for r in rows]).values("pk", *STATE_FIELDS):
        bot = bots[state.pop("pk")]
        for name, value in state.items():
            setattr(bot, Bot._meta.get_field(name).attname, value)
    bots = {row.bot_id: bots[row.bot_id] for row in rows}
    alerting = {row.bot_id for row in rows if needs_alerting(row.status, bots[row.bot_id].status)}
    Verification.objects.bulk_create([r for r in rows if entries[r.bot_id].detailed or r.bot_id in alerting])
    finished = []
    for row in rows:
        bot = bots[row.bot_id]
        finished.append(add_check(bot, entries[row.bot_id]))
        apply_result(bot, row, by_bot[row.bot_id])
        bot.next_check_at = next_at or bot.next_check_at
    store_hours([hour for hour in finished if hour is not None])
    save_states(list(bots.values()))
    return sorted(row.pk for row in rows if row.bot_id in alerting)


def save_states(bots: list[Bot]) -> None:
    """One UPDATE per bot, sent as one executemany.

    Django's bulk_update builds a CASE per field and row; for 50 bots x 18 fields that costs
    more CPU than the whole HTTP exchange of the portal.
    """
    fields = [Bot._meta.get_field(name) for name in STATE_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = quote(Bot._meta.db_table), quote(Bot._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608 - names from the model, values bound
    params = [[f.get_db_prep_save(getattr(bot, f.attname), connection) for f in fields] + [bot.pk] for bot in bots]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def apply_result(bot: Bot, row: Verification, result: BotResult) -> None:
    """The bot's current state after one verification (touches this bot only)."""
    if bot.status != row.status:
        bot.status = row.status
        bot.status_since = row.checked_at
    written = row.pk is not None  # written whole (checks.engine.hours.is_detailed)
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
        bot.remote_id = pg.remote_bot_id(result.fields) or bot.remote_id
        bot.users = result.users or []
    bot.problems = row.problems
    bot.event_backlog_s = row.event_backlog_s
    if result.response_format == ResponseFormat.EXTENDED:
        # The first owner's answer pins the id; later ones never move it (SPEC §7 `reregistered`).
        bot.pinned_id = bot.pinned_id or pg.remote_bot_id(result.fields)
        bot.baseline = config_of(result.fields)
    if result.command_names is not None:
        bot.commands_seen = result.command_names
        bot.commands_checked_at = row.checked_at


def config_events(run: Run, results: list[BotResult], now: datetime) -> list[BotEvent]:
    """Configuration changes since each bot's baseline, as history events (no alert: SPEC §7).

    Fields the operator expects are left out: a change there is drift, a problem of its own.
    """
    events = []
    for bot, result in zip(run.bots, results, strict=True):
        if result.response_format != ResponseFormat.EXTENDED or not bot.baseline:
            continue
        changes = config_changes(bot.baseline, result.fields, skip=(bot.expect or {}).keys())
        if changes:
            events.append(
                BotEvent(
                    bot_id=bot.pk,
                    kind=BotEvent.Kind.CONFIG_CHANGED,
                    created_at=now,
                    changes=changes,
                    note=describe_changes(changes),
                )
            )
    return events


def last_redirect(results: list[BotResult]) -> str | None:
    """The portal's newest address seen in this run, if it redirected at all."""
    redirects = [r.redirect_url for r in results if r.redirect_url]
    return redirects[-1][:500] if redirects else None


def hand_to_alerting(verification_ids: list[int], portal_id: int, portal_at: datetime | None, *, inline: bool) -> None:
    """After commit: incidents and notifications for these verifications and for the portal's state as
    of `portal_at` (None: nothing for the portal), checks.alerts.incidents."""
    if inline:
        evaluate_run(verification_ids, portal_id, portal_at, inline=True)
        return
    try:
        evaluate_run(verification_ids, portal_id, portal_at, inline=False)
    except Exception:
        # The rows are committed; a failing evaluation must not fail the sweep. Logged with
        # the ids so the operator sees which checks went without incident handling.
        log.exception("alert evaluation failed for portal %s, verifications %s", portal_id, verification_ids[:20])
