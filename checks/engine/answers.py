"""The answer probe's schedule: which bots are probed after a run, the send, the reads, the verdict kept.

After a run is recorded, each bot with `answer` whose probe is due (and whose check succeeded)
is claimed by a conditional update of `answer_next_at` and handed to a task that sends the
probe's text (checks.bitrix24.dialogs). The reads are tasks of their own, each scheduled with a
countdown: a wait never holds a worker thread, and the run that triggered it was over long
before. The probe's end (answered, no answer within `within`, refused) is kept on the bot
(`answer_problem`, `last_answer_ms`): the bot's next check carries it (checks.health.answer),
so `no_answer` alerts after 2 checks in a row like every `degraded`.

`manage.py verify` runs the same send and reads in its own process (probe_now), sleeping
between reads: a command, not a worker. See docs/answer-probe.md.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from checks.bitrix24 import dialogs
from checks.bitrix24.client import Bitrix24Client
from checks.bitrix24.sidecalls import target_id
from checks.bitrix24.types import BotResult
from checks.health import answer as answer_health
from checks.models import AnswerProbe, Bot
from checks.status import ResponseFormat, Status

log = logging.getLogger(__name__)

SEND_TASK = "checks.engine.tasks.send_answer_probe"
READ_TASK = "checks.engine.tasks.read_answer"
FIRST_READ = 1.0  # seconds after the send
MAX_READ_GAP = 15.0  # the reads come closer to the answer than this
# Kept past the longest month, so the monthly report sent on the 1st finds all of the last one.
PROBES_KEPT = timedelta(days=35)
LOST_READ = timedelta(seconds=120)  # a pending probe not read for this long lost its task: read it again


def after_run(bots: list[Bot], results: list[BotResult], now: datetime, *, scheduled: bool) -> list[int]:
    """Silence's note of growth, and on the workers' path the probes due (claimed here, sent by tasks
    on commit); returns the ids of the bots claimed. `verify` claims and probes on its own (probe_now)."""
    note_growth(bots, results, now)
    if not scheduled:
        return []
    claimed = claim_probes(bots, results, now)
    for bot_pk in claimed:
        transaction.on_commit(lambda pk=bot_pk: enqueue(SEND_TASK, pk))
    return claimed


def note_growth(bots: list[Bot], results: list[BotResult], now: datetime) -> None:
    """When countMessage last grew, for the bots with a silence rule (the others are not asked)."""
    grown = [bot.pk for bot, result in zip(bots, results, strict=False)
             if bot.silence and answer_health.grew(bot, result)]  # fmt: skip
    if grown:
        Bot.objects.filter(pk__in=grown).update(message_growth_at=now)


def claim_probes(bots: list[Bot], results: list[BotResult], now: datetime, *, force: bool = False) -> list[int]:
    """The bots whose probe is due (force: every bot with `answer`, as `verify` probes); each claimed
    by moving its answer_next_at on, so that one claimer wins."""
    claimed = []
    for bot, result in zip(bots, results, strict=False):
        if not bot.answer or result.status not in (Status.OK, Status.DEGRADED):
            continue
        if result.response_format != ResponseFormat.EXTENDED:
            continue
        due = bot.answer_next_at
        if due is not None and due > now and not force:
            continue
        every = int(bot.answer.get("every") or 900)
        same = Q() if force else Q(answer_next_at__isnull=True) if due is None else Q(answer_next_at=due)
        if Bot.objects.filter(same, pk=bot.pk).update(answer_next_at=now + timedelta(seconds=every)) == 1:
            claimed.append(bot.pk)
    return claimed


def enqueue(task: str, probe_or_bot: int, countdown: float = 0) -> None:
    # By name: checks.engine.tasks imports this module.
    current_app.signature(task).apply_async(args=[probe_or_bot], countdown=countdown)


# -- the send ---------------------------------------------------------------------------------


def send_probe(bot_pk: int, now: datetime | None = None) -> AnswerProbe | None:
    """Writes the probe's text into the bot's dialog; a pending probe, or one already ended (refused)."""
    bot = Bot.objects.select_related("portal").filter(pk=bot_pk).first()
    if bot is None or not bot.answer:
        return None
    now = now or timezone.now()
    user_id = target_id(bot) or bot.remote_id
    if user_id is None:
        return None
    dialog = bot.answer.get("dialog") or str(user_id)
    text = str(bot.answer["text"])
    within = int(bot.answer.get("within") or 30)
    probe = AnswerProbe(bot=bot, sent_at=now, dialog=dialog, text=text, deadline=now + timedelta(seconds=within))
    client = Bitrix24Client(bot.portal)
    sent = client.dialog_call(dialogs.MESSAGE_ADD, dialogs.send_params(dialog, text), write=True)
    if sent.failed:
        sent = landed_or_resend(client, bot, probe)
    if sent.refused:
        return end_probe(probe, AnswerProbe.Outcome.REFUSED, bot, error_code=sent.error_code)
    probe.message_id = dialogs.sent_message_id(sent)
    if probe.message_id is None:
        detail = f"the message was not sent ({sent.failed or 'no message id in the answer'})"
        return end_probe(probe, AnswerProbe.Outcome.NOT_SENT, bot, detail=detail)
    probe.portal_sent_at = sent.portal_time
    probe.next_read_at = now + timedelta(seconds=min(FIRST_READ, within))
    probe.save()
    return probe


def landed_or_resend(client: Bitrix24Client, bot: Bot, probe: AnswerProbe) -> dialogs.DialogAnswer:
    """A send whose answer was lost may have written the message: read the dialog first, resend
    only when the message is not there (once). A write is never retried blindly."""
    read = client.dialog_call(dialogs.DIALOG_READ, dialogs.read_params(probe.dialog, None), write=False)
    if read.failed or read.refused:
        return read  # nothing known: better no probe than two messages
    after = last_probe_message(bot)
    for message in reversed(dialogs.dialog_messages(read)):
        if message["id"] > after and message.get("text") == probe.text and message["author_id"] != target_id(bot):
            log.info("bot %s: the probe's first send landed (message %s); not sent again", bot.pk, message["id"])
            return dialogs.DialogAnswer(result=message["id"], portal_time=read.portal_time)
    return client.dialog_call(dialogs.MESSAGE_ADD, dialogs.send_params(probe.dialog, probe.text), write=True)


def last_probe_message(bot: Bot) -> int:
    last = bot.answer_probes.exclude(message_id=None).order_by("-sent_at").values_list("message_id", flat=True)
    return last.first() or 0


# -- the reads ----------------------------------------------------------------------------------


def read_answer(probe_pk: int, now: datetime | None = None) -> AnswerProbe | None:
    """One read of the dialog after the probe's message: answered, no answer (past `within`), or
    still waiting (next_read_at set: the caller schedules the next read)."""
    probe = AnswerProbe.objects.select_related("bot__portal").filter(pk=probe_pk).first()
    if probe is None or probe.done:
        return probe
    now = now or timezone.now()
    bot = probe.bot
    client = Bitrix24Client(bot.portal)
    read = client.dialog_call(dialogs.DIALOG_READ, dialogs.read_params(probe.dialog, probe.message_id), write=False)
    probe.reads += 1
    if read.refused:
        return end_probe(probe, AnswerProbe.Outcome.REFUSED, bot, error_code=read.error_code)
    answer = None
    if not read.failed:
        user_id = target_id(bot) or bot.remote_id or 0
        answer = answer_health.first_answer(dialogs.dialog_messages(read), user_id, probe.message_id)
    if answer is not None:
        ms = answer_health.answer_ms(answer, probe.portal_sent_at, probe.sent_at)
        return end_probe(probe, AnswerProbe.Outcome.ANSWERED, bot, answer_ms=ms, answered_at=now)
    if now >= probe.deadline:
        return end_probe(probe, AnswerProbe.Outcome.NO_ANSWER, bot, detail=read.failed)
    gap = min(MAX_READ_GAP, max(FIRST_READ, (now - probe.sent_at).total_seconds()))
    probe.next_read_at = min(probe.deadline, now + timedelta(seconds=gap))
    probe.save(update_fields=["reads", "next_read_at"])
    return probe


def end_probe(probe: AnswerProbe, outcome: str, bot: Bot, **values) -> AnswerProbe:
    """The probe's end, and the verdict the bot's next check carries."""
    probe.outcome = outcome
    probe.next_read_at = None
    for name, value in values.items():
        setattr(probe, name, value or ("" if name in ("error_code", "detail") else value))
    problem = {}
    if outcome == AnswerProbe.Outcome.NO_ANSWER:
        within = int((probe.deadline - probe.sent_at).total_seconds())
        problem = answer_health.no_answer(within, probe.text, probe.dialog, probe.detail)
    elif outcome == AnswerProbe.Outcome.REFUSED:
        problem = answer_health.answer_refused(probe.error_code, probe.dialog)
    with transaction.atomic():
        probe.save()
        if outcome != AnswerProbe.Outcome.NOT_SENT:
            last_ms = probe.answer_ms if outcome == AnswerProbe.Outcome.ANSWERED else None
            Bot.objects.filter(pk=bot.pk).update(answer_problem=problem, last_answer_ms=last_ms)
    log.info("bot %s: answer probe %s %s", bot.pk, outcome, f"{probe.answer_ms} ms" if probe.answer_ms else "")
    return probe


def read_in_task(probe_pk: int) -> None:
    """The read task's body: read, then schedule the next read when still waiting."""
    probe = read_answer(probe_pk)
    if probe is not None and not probe.done and probe.next_read_at is not None:
        wait = max(0.0, (probe.next_read_at - timezone.now()).total_seconds())
        enqueue(READ_TASK, probe.pk, countdown=wait)


def send_in_task(bot_pk: int) -> None:
    probe = send_probe(bot_pk)
    if probe is not None and not probe.done:
        enqueue(READ_TASK, probe.pk, countdown=FIRST_READ)


def rescue_lost_reads(now: datetime | None = None) -> int:
    """Pending probes whose read task was lost (a worker restarted): read again; those past their
    deadline by far end as no answer at their next read."""
    now = now or timezone.now()
    lost = list(
        AnswerProbe.objects.filter(outcome="pending", next_read_at__lt=now - LOST_READ).values_list("pk", flat=True)[
            :100
        ]
    )
    for pk in lost:
        AnswerProbe.objects.filter(pk=pk, outcome="pending").update(next_read_at=now)
        enqueue(READ_TASK, pk)
    return len(lost)


def prune_probes(now: datetime | None = None) -> int:
    return AnswerProbe.objects.filter(sent_at__lt=(now or timezone.now()) - PROBES_KEPT).delete()[0]


# -- verify: in the command's own process -----------------------------------------------------------


def probe_now(bot_pks: list[int], sleep: Callable[[float], None] = time.sleep) -> dict[int, AnswerProbe]:
    """Sends the probes of these bots now and waits for their answers (at most their `within`)."""
    probes = {pk: p for pk in bot_pks if (p := send_probe(pk)) is not None}
    waiting = [p for p in probes.values() if not p.done]
    while waiting:
        due = min(p.next_read_at for p in waiting)
        sleep(max(0.0, (due - timezone.now()).total_seconds()))
        for probe in [p for p in waiting if p.next_read_at <= timezone.now()]:
            probes[probe.bot_id] = read_answer(probe.pk)
        waiting = [p for p in probes.values() if not p.done]
    return probes
