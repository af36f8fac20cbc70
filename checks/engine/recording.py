"""Recording a run: every check in its bot's packed hour, the checks with something to say as
whole verification rows, bot states, tallies and the claim's release, all or nothing.

The claim token and the unique (bot, slot) constraint make a redelivered task write nothing
twice. The writing itself is one statement (checks.engine.pg).
"""

import logging
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from checks.alerts.incidents import evaluate_run
from checks.bitrix24.probe import PortalResult
from checks.bitrix24.types import BotResult
from checks.engine import pg
from checks.engine.claims import LostClaim, interval_for, next_due
from checks.engine.portal_state import state_document
from checks.engine.runs import Run
from checks.health.bot import config_changes, describe_changes
from checks.history import days
from checks.history.hours import pack_check
from checks.models import Bot, BotEvent, Verification
from checks.status import ResponseFormat, problem_keys

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
    hour = days.hour_start(rows[0].checked_at) if rows else None
    entries = {row.bot_id: pack_check(row, hour) for row in rows}
    # One next time for the whole run: a portal's bots stay together in one batch, and the
    # jitter spreads the portals.
    next_at = next_due(now, interval_for(run.portal)) if run.scheduled else None
    redirected_to = last_redirect(results) if run.scheduled else None
    events = config_events(run, results, now)
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


def config_events(run: Run, results: list[BotResult], now: datetime) -> list[BotEvent]:
    """Configuration changes since each bot's baseline, as history events (a change alone is no problem, so no alert).

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
