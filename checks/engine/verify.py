"""One run over a portal: load the due bots, ask the client chunk by chunk, then the verdicts, record.

The client (checks.bitrix24) returns what Bitrix24 said; the verdicts (checks.health) say what
is wrong with it (a bot's problems, the portal's status); recording (checks.engine.recording)
writes both and hands status changes to alerting. See docs/architecture-walk.md.
"""

import logging
import traceback
import uuid

from django.conf import settings
from django.utils import timezone, translation

from checks.bitrix24.client import Bitrix24Client
from checks.bitrix24.probe import PortalResult
from checks.bitrix24.types import BotResult
from checks.engine import answers
from checks.engine.claims import LostClaim, lease_seconds, next_portal_check, release_claim
from checks.engine.recording import record_results
from checks.engine.runs import start_run
from checks.health import answer as answer_health
from checks.health import bot as bot_health
from checks.health import portal as portal_health
from checks.models import Bot, Portal, Verification
from checks.net.deadline import Deadline
from checks.status import Status

log = logging.getLogger(__name__)

CHUNK = 50  # bots per client call: one batch request when the portal allows batch
# Seconds of client calls per run, below the verify task's time limits and the lease.
RUN_BUDGET = 200
# What a run leaves of its lease for recording its results (a quarter of a short test lease).
LEASE_MARGIN = 30


def verify_portal(
    portal_id: int, claim_token: uuid.UUID | str | None = None, *, manual: bool = False, inline_alerts: bool = False
) -> list[Verification]:
    """Verify a portal's bots and record the results; returns the rows written.

    With a claim token: the due bots, each for its scheduled slot, then rescheduled (the
    workers' path). Without: every enabled bot, now, schedule untouched (`manage.py verify`).
    """
    # What a run finds is stored once for every reader, so in the instance's language, whatever
    # the calling thread has active (a Russian viewer's request, a test client's).
    with translation.override(settings.BOTWATCH_LANGUAGE):
        return _verify(portal_id, claim_token, manual=manual, inline_alerts=inline_alerts)


def _verify(portal_id: int, claim_token, *, manual: bool, inline_alerts: bool) -> list[Verification]:
    token = uuid.UUID(str(claim_token)) if claim_token else None
    run = start_run(portal_id, token, manual=manual)
    if run is None:
        return []
    if not run.bots:
        if run.scheduled:
            release_claim(portal_id, token, next_check_at=next_portal_check(portal_id))
        return []
    portal, results = call_client(run.portal, run.bots, caller_saves_batch=run.scheduled)
    run.bots = run.bots[: len(results)]  # the rest ran out of time: still due, next tick
    try:
        rows = record_results(run, results, portal=portal, inline_alerts=inline_alerts)
    except LostClaim:
        log.warning("portal %s: lease expired and was claimed again; results dropped", portal_id)
        return []
    recorded = {row.bot_id for row in rows}
    kept = [(bot, result) for bot, result in zip(run.bots, results, strict=True) if bot.pk in recorded]
    answers.after_run([b for b, _ in kept], [r for _, r in kept], timezone.now(), scheduled=run.scheduled)
    return rows


def run_seconds() -> float:
    """How long a run may call the portal: RUN_BUDGET, and always well inside the claim's lease.

    Every call ends by the run's deadline (checks.bitrix24.client), so a portal that never
    answers cannot outlive the lease and be claimed by a second worker meanwhile.
    """
    lease = lease_seconds()
    return min(RUN_BUDGET, lease - min(LEASE_MARGIN, lease / 4))


def check_bots(portal: Portal, bots: list[Bot], **options) -> list[BotResult]:
    """The bots' outcomes with their verdicts, without the portal probe and without recording.

    The dashboard's "test connection" passes persist=False (nothing is written, unsaved copies
    welcome) and a deadline (the results are then for the first bots only). options: those of
    checks.bitrix24.client.Bitrix24Client, and `fresh` of its verify_bots.
    """
    fresh = options.pop("fresh", False)
    client = Bitrix24Client(portal, **options)
    return judge_bots(client, list(bots), client.verify_bots(bots, fresh=fresh))


def call_client(
    portal: Portal, bots: list[Bot], budget: float | None = None, *, caller_saves_batch: bool = False
) -> tuple[PortalResult | None, list[BotResult]]:
    """The portal's outcome and the results for the first bots, chunk by chunk, until the run's
    deadline, each judged (checks.health) as its chunk comes back.

    The first chunk probes the portal; the later ones are not called at all when it fails.
    Celery's time limits are not enforced by the threads pool; the deadline is what keeps a
    run inside its lease even on a slow, unbatched portal. One client for the whole run: a
    timeout in one chunk answers for the others without calling again. caller_saves_batch:
    see checks.bitrix24.client.verify_bots (a scheduled run's recording writes it).
    """
    deadline = Deadline(run_seconds() if budget is None else budget)
    client = Bitrix24Client(portal, persist=True, caller_saves_batch=caller_saves_batch, deadline=deadline)
    results: list[BotResult] = []
    outcome: PortalResult | None = None
    for start in range(0, len(bots), CHUNK):
        chunk = bots[start : start + CHUNK]
        # start_run read the portal row moments before the first chunk; later chunks re-read
        # it, since an earlier one may have refreshed tokens or blocked the portal.
        first = start == 0
        answers = _verify_chunk(client, chunk, fresh=first, probe=first, known=outcome)
        if len(answers) > len(chunk):
            raise RuntimeError(f"client returned {len(answers)} results for {len(chunk)} bots of portal {portal.pk}")
        results += judge_bots(client, chunk, answers)
        if first and client.portal_result is not None:
            outcome = portal_health.find_problems(client.portal_result)
        # A later chunk's bots failing alike make the portal fail too, and the next chunk is not called.
        outcome = portal_health.settle(outcome, answers)
        if len(answers) < len(chunk):
            log.warning("portal %s: time budget spent after %d of %d bots", portal.pk, len(results), len(bots))
            break
    return outcome, results


def judge_bots(client: Bitrix24Client, bots: list[Bot], results: list[BotResult]) -> list[BotResult]:
    """Each bot's verdict (checks.health.bot.assess) on what the client returned for it.

    Its description is then redacted like the client's own: a problem quotes the bot's
    fields, and no stored secret survives in a description, whatever the portal echoed.
    """
    now = timezone.now()
    for bot, result in zip(bots, results, strict=False):
        bot_health.assess(result, bot, now, answer_health.problems_of(bot, result, now))
        result.error_description = client.redact(result.error_description, bot.bot_token)
    return results


def _verify_chunk(
    client: Bitrix24Client, chunk: list[Bot], *, fresh: bool, probe: bool, known: PortalResult | None
) -> list[BotResult]:
    """The client's results; should it ever raise, an `error` per bot, so that the run is still recorded.

    The first chunk probes the portal; later ones go by the portal's outcome so far (`known`),
    and are not called when the portal fails.
    """
    try:
        return client.verify_bots(chunk, fresh=fresh, probe=probe, known=known)
    except Exception as exc:
        # Not the exception's text: a library's message may hold a URL with a credential.
        name = type(exc).__name__
        # The frames on the entry's one line (dashboard.logformat escapes line breaks in a message).
        frames = " < ".join(
            f"{f.filename}:{f.lineno} in {f.name}" for f in reversed(traceback.extract_tb(exc.__traceback__))
        )
        log.error("portal %s: internal error in the client (%s) at %s", client.portal.pk, name, frames)
        description = f"internal error in BotWatch ({name}); see the worker log"
        return [BotResult(bot_pk=bot.pk, status=Status.ERROR, error_description=description) for bot in chunk]
