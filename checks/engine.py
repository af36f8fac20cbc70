"""The verification engine: which portals are due, who verifies them, what gets recorded.

Scheduling is per bot (`Bot.next_check_at`); the unit of work is a portal, because one
portal's bots share one rate limit and can share one `batch` call. Beat ticks
`dispatch_due`, which claims portals with a conditional update and a lease: the claim is
a fresh UUID written only where no live lease exists, so of any number of beats or
workers exactly one wins, and a portal claimed by a killed worker is claimed again once
its lease runs out. The task that holds the claim verifies the portal's due bots, writes
one Verification per bot for its scheduled slot, updates the bots' state and releases
the claim, all in one transaction; the unique (bot, slot) constraint and the claim token
make a redelivered task write nothing twice.
"""

import logging
import random
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from checks import engine_pg
from checks.bitrix24.client import verify_bots
from checks.bitrix24.types import BotResult
from checks.incidents import evaluate_verifications
from checks.models import Bot, Portal, Verification
from checks.status import Status, needs_alerting

log = logging.getLogger(__name__)

MIN_INTERVAL = 30  # seconds; SPEC: nobody verifies a bot more often
JITTER = 0.1  # the next check comes 0-10 % early, so bots checked together drift apart
# Bots of a claimed portal due within this share of the interval join the ones due now:
# one batch instead of two, and the portal's bots converge on a common schedule.
COALESCE = 0.25
MAX_BOTS_PER_RUN = 250  # a bigger portal is finished by the next claims
CHUNK = 50  # bots per client call: one batch request when the portal allows batch
# Seconds of client calls per run, below the verify task's time limits and the lease.
RUN_BUDGET = 200
MAX_DESCRIPTION = 2000


class LostClaim(Exception):
    """The portal's lease ran out and another worker claimed it: this run writes nothing."""


def lease_seconds() -> int:
    # Longer than the verify task's hard time limit (checks/tasks.py), so a live task never
    # loses its claim; overridable so the kill-a-worker test need not wait ten minutes.
    return int(getattr(settings, "BOTWATCH_CLAIM_LEASE", 600))


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=lease_seconds())


def interval_for(portal: Portal) -> int:
    return max(MIN_INTERVAL, portal.interval or settings.BOTWATCH_CHECK_INTERVAL)


def next_due(now: datetime, interval: int, rng: random.Random | None = None) -> datetime:
    early = JITTER * (rng or random).random()
    return now + timedelta(seconds=interval * (1 - early))


# Claiming ------------------------------------------------------------------------------


def due_portal_ids(now: datetime, limit: int = 1000) -> list[int]:
    """Unpaused portals with at least one enabled bot due and no live lease."""
    rows = (
        Bot.objects.filter(enabled=True, next_check_at__lte=now, portal__paused=False)
        .filter(Q(portal__claimed_until__isnull=True) | Q(portal__claimed_until__lte=now))
        .order_by("portal_id")
        .values_list("portal_id", flat=True)
        .distinct()
    )
    return list(rows[:limit])


def claim_portal(portal_id: int, now: datetime | None = None) -> uuid.UUID | None:
    """Take the portal's lease if nobody holds a live one; the token proves ownership."""
    now = now or timezone.now()
    token = uuid.uuid4()
    # Conditional update: on PostgreSQL a concurrent UPDATE waits for the row lock, then
    # re-checks the WHERE on the new row and finds the lease taken; SQLite serialises writes.
    won = (
        Portal.objects.filter(pk=portal_id, paused=False)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claim_token=token, claimed_until=lease_until(now))
    )
    return token if won else None


def claim_due_portals(now: datetime | None = None, limit: int = 1000) -> list[tuple[int, uuid.UUID]]:
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        # One conditional UPDATE for the whole tick rather than one per portal.
        portal_ids = due_portal_ids(now, limit)
        return engine_pg.claim_portals(portal_ids, now, lease_until(now)) if portal_ids else []
    claims = []
    for portal_id in due_portal_ids(now, limit):
        token = claim_portal(portal_id, now)
        if token is not None:
            claims.append((portal_id, token))
    return claims


def release_claim(portal_id: int, token: uuid.UUID, **changes) -> bool:
    return bool(
        Portal.objects.filter(pk=portal_id, claim_token=token).update(claim_token=None, claimed_until=None, **changes)
    )


# Verifying -----------------------------------------------------------------------------


@dataclass
class Run:
    """One verification pass over some bots of one portal."""

    portal: Portal
    bots: list[Bot]
    slots: dict[int, datetime]  # bot pk -> the scheduled time this check answers
    token: uuid.UUID | None
    manual: bool

    @property
    def scheduled(self) -> bool:
        return self.token is not None


def verify_portal(
    portal_id: int, claim_token: uuid.UUID | str | None = None, *, manual: bool = False, inline_alerts: bool = False
) -> list[Verification]:
    """Verify a portal's bots and record the results; returns the rows written.

    With a claim token: the due bots, each for its scheduled slot, then rescheduled (the
    workers' path). Without: every enabled bot, now, schedule untouched (`manage.py verify`).
    """
    token = uuid.UUID(str(claim_token)) if claim_token else None
    run = start_run(portal_id, token, manual=manual)
    if run is None:
        return []
    if not run.bots:
        if run.scheduled:
            release_claim(portal_id, token, next_check_at=next_portal_check(portal_id))
        return []
    results = call_client(run.portal, run.bots, caller_saves_batch=run.scheduled)
    run.bots = run.bots[: len(results)]  # the rest ran out of time: still due, next tick
    try:
        return record_results(run, results, inline_alerts=inline_alerts)
    except LostClaim:
        log.warning("portal %s: lease expired and was claimed again; results dropped", portal_id)
        return []


def start_run(portal_id: int, token: uuid.UUID | None, *, manual: bool) -> Run | None:
    portal = Portal.objects.filter(pk=portal_id).first()
    if portal is None:
        return None
    if token is not None and portal.claim_token != token:
        # A redelivered task whose run already committed (the claim was released), or
        # whose lease expired and was claimed again: either way not ours to do.
        log.info("portal %s: claim %s is no longer held; nothing to do", portal_id, token)
        return None
    if portal.paused:
        if token is not None:
            release_claim(portal_id, token)
        return None
    now = timezone.now()
    # What the client needs; the state columns are read under lock when the results are in.
    bots = (
        Bot.objects.filter(portal=portal, enabled=True)
        .only("portal_id", "code", "bot_id", "bot_token", "next_check_at")
        .order_by("next_check_at", "pk")
    )
    if token is not None:
        horizon = now + timedelta(seconds=interval_for(portal) * COALESCE)
        bots = bots.filter(next_check_at__lte=horizon)
    bots = list(bots[:MAX_BOTS_PER_RUN])
    for bot in bots:
        bot.portal = portal  # the client reads credentials from it; no query per bot
    slots = {bot.pk: (bot.next_check_at if token is not None else now) for bot in bots}
    return Run(portal=portal, bots=bots, slots=slots, token=token, manual=manual)


def call_client(
    portal: Portal, bots: list[Bot], budget: float | None = None, *, caller_saves_batch: bool = False
) -> list[BotResult]:
    """Results for the first bots, chunk by chunk, until the time budget is spent.

    Celery's time limits are not enforced by the threads pool; this is what keeps a run
    well inside its lease even on a slow, unbatched portal. caller_saves_batch: see
    checks.bitrix24.client.verify_bots (a scheduled run's recording writes it).
    """
    deadline = time.monotonic() + (RUN_BUDGET if budget is None else budget)
    results: list[BotResult] = []
    for start in range(0, len(bots), CHUNK):
        if results and time.monotonic() > deadline:
            log.warning("portal %s: time budget spent after %d of %d bots", portal.pk, len(results), len(bots))
            break
        chunk = bots[start : start + CHUNK]
        # start_run read the portal row moments before the first chunk; later chunks re-read
        # it, since an earlier one may have refreshed tokens or blocked the portal.
        answers = verify_bots(portal, chunk, persist=True, fresh=start == 0, caller_saves_batch=caller_saves_batch)
        if len(answers) != len(chunk):
            raise RuntimeError(f"client returned {len(answers)} results for {len(chunk)} bots of portal {portal.pk}")
        results += answers
    return results


# Recording -----------------------------------------------------------------------------


VERIFICATION_ATTNAMES = [f.attname for f in Verification._meta.concrete_fields]


def build_verification(run: Run, bot: Bot, result: BotResult, checked_at: datetime) -> Verification:
    counters = result.counters or {}
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
        "fields": result.fields or {},
        "operating": result.operating,
        "redirect_url": (result.redirect_url or "")[:500],
        "manual": run.manual,
    }
    # Positional, every column given (the id None): a third of the CPU of keyword arguments,
    # which Model.__init__ takes one field at a time.
    return Verification(*[values.get(name) for name in VERIFICATION_ATTNAMES])


def record_results(run: Run, results: list[BotResult], *, inline_alerts: bool = False) -> list[Verification]:
    checked_at = timezone.now()
    rows = [build_verification(run, bot, result, checked_at) for bot, result in zip(run.bots, results, strict=True)]
    try:
        rows, for_alerting = write_results(run, rows, results, checked_at)
    except IntegrityError as exc:
        # Another run recorded some of these slots first (a lease that expired under a
        # slow worker), or a bot was deleted meanwhile: keep what is already there. The
        # database's message names the constraint, so an unexpected one is not mistaken
        # for these (rows hold no secret: descriptions are redacted by the client).
        log.warning("portal %s: verifications not recorded (slot taken or bot deleted): %s", run.portal.pk, exc)
        return []
    if for_alerting:
        # Runs now in autocommit (the write is committed), or when the caller's transaction commits.
        transaction.on_commit(lambda: hand_to_alerting(for_alerting, inline=inline_alerts))
    return rows


def write_results(
    run: Run, rows: list[Verification], results: list[BotResult], now: datetime
) -> tuple[list[Verification], list[int]]:
    """Rows, bot states and the claim's release, all or nothing.

    Returns the rows written (a bot deleted meanwhile has none) and the ids of those that
    alerting must look at. Raises LostClaim when a scheduled run's claim is no longer held.
    """
    by_bot = {bot.pk: result for bot, result in zip(run.bots, results, strict=True)}
    # One next time for the whole run: a portal's bots stay together in one batch, and the
    # jitter spreads the portals.
    next_at = next_due(now, interval_for(run.portal)) if run.scheduled else None
    redirected_to = last_redirect(results) if run.scheduled else None
    if connection.vendor != "postgresql":
        with transaction.atomic():
            return _write_portable(run, rows, by_bot, next_at, redirected_to)
    # One statement: a transaction of its own in autocommit (the workers); inside a caller's
    # transaction a savepoint, so that a refused write leaves that transaction usable.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        recorded = engine_pg.record(
            rows,
            by_bot,
            portal_id=run.portal.pk,
            token=run.token,
            next_at=next_at,
            redirected_to=redirected_to,
            batch_supported=run.portal.batch_supported if run.scheduled else None,
        )
    if not recorded.held:
        raise LostClaim
    return recorded.rows, recorded.for_alerting


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
]


def _write_portable(
    run: Run,
    rows: list[Verification],
    by_bot: dict[int, BotResult],
    next_at: datetime | None,
    redirected_to: str | None,
) -> tuple[list[Verification], list[int]]:
    """write_results on SQLite, inside its transaction: statement by statement."""
    # A scheduled run first proves that the lease is still ours.
    held = Portal.objects.filter(pk=run.portal.pk, claim_token=run.token)
    if run.scheduled and not held.update(claimed_until=lease_until(timezone.now())):
        raise LostClaim
    # Bots deleted while their check was in flight would fail the foreign key at commit.
    alive = set(Bot.objects.filter(pk__in=[r.bot_id for r in rows]).values_list("pk", flat=True))
    rows = Verification.objects.bulk_create([r for r in rows if r.bot_id in alive])
    for_alerting = update_bot_states(run, rows, by_bot, next_at) if rows else []
    if run.scheduled:
        changes = {"next_check_at": next_portal_check(run.portal.pk)}
        if redirected_to:
            changes["redirected_to"] = redirected_to
        if run.portal.batch_supported is not None:  # what a first batch learned; a known answer stays
            changes["batch_supported"] = Coalesce(F("batch_supported"), Value(run.portal.batch_supported))
        release_claim(run.portal.pk, run.token, **changes)
    return rows, for_alerting


def update_bot_states(
    run: Run, rows: list[Verification], by_bot: dict[int, BotResult], next_at: datetime | None
) -> list[int]:
    """Apply each row to its bot; returns the ids of the rows alerting must look at."""
    bots = {bot.pk: bot for bot in run.bots}
    # Re-read the state under lock: a manual `verify` may have moved it since the run began.
    # Plain values onto the run's own objects: no second decryption of every bot token.
    for state in Bot.objects.select_for_update().filter(pk__in=[r.bot_id for r in rows]).values("pk", *STATE_FIELDS):
        bot = bots[state.pop("pk")]
        for name, value in state.items():
            setattr(bot, Bot._meta.get_field(name).attname, value)
    bots = {row.bot_id: bots[row.bot_id] for row in rows}
    for_alerting = []
    for row in rows:
        bot = bots[row.bot_id]
        if needs_alerting(row.status, bot.status):
            for_alerting.append(row.pk)
        apply_result(bot, row, by_bot[row.bot_id])
        bot.next_check_at = next_at or bot.next_check_at
    save_states(list(bots.values()))
    return for_alerting


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
    if row.status == Status.OK:
        bot.consecutive_failures = 0
        bot.failure_streak = {}
        bot.last_ok_at = row.checked_at
        bot.last_ok_verification = row
    else:
        bot.consecutive_failures += 1
        streak = dict(bot.failure_streak or {})
        streak[row.status] = streak.get(row.status, 0) + 1
        bot.failure_streak = streak
    bot.last_checked_at = row.checked_at
    bot.last_error = row.error_code
    bot.last_duration_ms = row.duration_ms
    bot.last_verification = row
    if result.counters:
        bot.count_message = row.count_message
        bot.count_command = row.count_command
        bot.count_chat = row.count_chat
        bot.count_user = row.count_user
    if result.fields:
        bot.fields = result.fields
        bot.remote_id = engine_pg.remote_bot_id(result.fields) or bot.remote_id
        bot.users = result.users or []


def last_redirect(results: list[BotResult]) -> str | None:
    """The portal's newest address seen in this run, if it redirected at all."""
    redirects = [r.redirect_url for r in results if r.redirect_url]
    return redirects[-1][:500] if redirects else None


def next_portal_check(portal_id: int) -> datetime:
    """The earliest due time of the portal's enabled bots (shown on the dashboard)."""
    earliest = Bot.objects.filter(portal_id=portal_id, enabled=True).aggregate(at=Min("next_check_at"))["at"]
    return earliest or default_portal_check()


def default_portal_check() -> datetime:
    # A portal without enabled bots: shown as due one interval from now.
    return timezone.now() + timedelta(seconds=settings.BOTWATCH_CHECK_INTERVAL)


def hand_to_alerting(verification_ids: list[int], *, inline: bool) -> None:
    """After commit: incidents and notifications for these verifications (checks/incidents.py)."""
    if inline:
        evaluate_verifications(verification_ids, inline=True)
        return
    try:
        evaluate_verifications(verification_ids, inline=False)
    except Exception:
        # The rows are committed; a failing evaluation must not fail the sweep. Logged with
        # the ids so the operator sees which checks went without incident handling.
        log.exception("alert evaluation failed for verifications %s", verification_ids[:20])
