"""A run: the bots of one claimed portal that one task verifies, each for its scheduled slot."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from checks.engine.claims import COALESCE, interval_for, release_claim
from checks.models import Bot, Portal

log = logging.getLogger(__name__)

MAX_BOTS_PER_RUN = 250  # a bigger portal is finished by the next claims


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
    # What the client needs, and what tells whether a check changed something (its state as the run
    # read it: checks.engine.recording.changed_since); the state columns are read again under lock
    # when the results are in. A column left out here is loaded bot by bot when first touched.
    bots = (
        Bot.objects.filter(portal=portal, enabled=True)
        .only(
            "portal_id",
            "code",
            "bot_id",
            "bot_token",
            "next_check_at",
            "pinned_id",
            "expect",
            "backlog_minutes",
            "baseline",
            "commands_seen",
            "commands_checked_at",
            "status",
            "last_checked_at",
            "last_error",
            "problems",
            "answer",
            "answer_next_at",
            "answer_problem",
            "silence",
            "message_growth_at",
            "count_message",
        )
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
