"""One run over a portal: load the due bots, call the client chunk by chunk, record."""

import logging
import time
import uuid

from checks.bitrix24.client import verify_run
from checks.bitrix24.probe import PortalResult
from checks.bitrix24.types import BotResult
from checks.engine.claims import LostClaim, next_portal_check, release_claim
from checks.engine.recording import record_results
from checks.engine.runs import start_run
from checks.models import Bot, Portal, Verification

log = logging.getLogger(__name__)

CHUNK = 50  # bots per client call: one batch request when the portal allows batch
# Seconds of client calls per run, below the verify task's time limits and the lease.
RUN_BUDGET = 200


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
    portal, results = call_client(run.portal, run.bots, caller_saves_batch=run.scheduled)
    run.bots = run.bots[: len(results)]  # the rest ran out of time: still due, next tick
    try:
        return record_results(run, results, portal=portal, inline_alerts=inline_alerts)
    except LostClaim:
        log.warning("portal %s: lease expired and was claimed again; results dropped", portal_id)
        return []


def call_client(
    portal: Portal, bots: list[Bot], budget: float | None = None, *, caller_saves_batch: bool = False
) -> tuple[PortalResult | None, list[BotResult]]:
    """The portal's outcome and the results for the first bots, chunk by chunk, until the time budget is spent.

    The first chunk probes the portal (SPEC §8); the later ones are not called at all when it fails.
    Celery's time limits are not enforced by the threads pool; this is what keeps a run
    well inside its lease even on a slow, unbatched portal. caller_saves_batch: see
    checks.bitrix24.client.verify_bots (a scheduled run's recording writes it).
    """
    deadline = time.monotonic() + (RUN_BUDGET if budget is None else budget)
    results: list[BotResult] = []
    outcome: PortalResult | None = None
    for start in range(0, len(bots), CHUNK):
        if results and time.monotonic() > deadline:
            log.warning("portal %s: time budget spent after %d of %d bots", portal.pk, len(results), len(bots))
            break
        chunk = bots[start : start + CHUNK]
        # start_run read the portal row moments before the first chunk; later chunks re-read
        # it, since an earlier one may have refreshed tokens or blocked the portal.
        outcome, answers = verify_run(
            portal, chunk, known=outcome, fresh=start == 0, persist=True, caller_saves_batch=caller_saves_batch
        )
        if len(answers) != len(chunk):
            raise RuntimeError(f"client returned {len(answers)} results for {len(chunk)} bots of portal {portal.pk}")
        results += answers
    return outcome, results
