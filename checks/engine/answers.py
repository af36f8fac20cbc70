"""The answer probe's schedule: which bots are probed after a run, the sends, the reads, the verdict kept.

After a run is recorded, each bot with `answer` whose probe is due (and whose check succeeded)
is claimed by a conditional update of `answer_next_at`; the run's claimed bots (one portal's)
are handed to one task that sends their probes' texts (checks.bitrix24.dialogs) through one
client. The reads are tasks of their own, one per batch of probes sent together, each
scheduled with a countdown and reading every still open probe of the batch: a wait never holds
a thread, and the run that triggered it was over long before. The probe's end (answered, no
answer within `within`, refused) is kept on the bot (`answer_problem`, `last_answer_ms`): the
bot's next check carries it (checks.health.answer), so `no_answer` alerts after 2 checks in a
row like every `degraded`.

The tasks travel on the "probes" queue and run on a worker's probe threads, never on the threads
that verifications are counted on (checks.engine.tasks). `manage.py verify` runs the same sends
and reads in its own process (probe_now), sleeping between reads: a command, not a worker. See
docs/answer-probe.md.
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
from checks.models import AnswerProbe, Bot, Portal
from checks.status import ResponseFormat, Status

log = logging.getLogger(__name__)

SEND_TASK = "checks.engine.tasks.send_answer_probes"
READ_TASK = "checks.engine.tasks.read_answers"
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
    if claimed:
        # One task for the run's probes: a run is one portal's, so is the batch.
        transaction.on_commit(lambda: enqueue(SEND_TASK, claimed))
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


def enqueue(task: str, pks: list[int], countdown: float = 0) -> None:
    """A send (bot ids) or a read (probe ids) task. By name: checks.engine.tasks imports this module."""
    current_app.signature(task).apply_async(args=[pks], countdown=countdown)


# -- the send ---------------------------------------------------------------------------------


def send_probes(bot_pks: list[int]) -> list[AnswerProbe]:
    """Each bot's probe, sent one after another through one client per portal (its pacing and
    its credentials): pending probes, and those already ended (refused, not sent)."""
    bots = Bot.objects.select_related("portal").filter(pk__in=bot_pks).exclude(answer={}).order_by("pk")
    client_of = portal_clients()
    probes = []
    for bot in bots:
        if (probe := send_probe(client_of(bot.portal), bot, timezone.now())) is not None:
            probes.append(probe)
    return probes


def portal_clients() -> Callable[[Portal], Bitrix24Client]:
    """One client per portal for a batch (its pacing and credentials), made at its first use."""
    clients: dict[int, Bitrix24Client] = {}

    def client_of(portal: Portal) -> Bitrix24Client:
        if portal.pk not in clients:
            clients[portal.pk] = Bitrix24Client(portal)
        return clients[portal.pk]

    return client_of


def send_probe(client: Bitrix24Client, bot: Bot, now: datetime) -> AnswerProbe | None:
    """Writes the probe's text into the bot's dialog; a pending probe, or one already ended (refused)."""
    user_id = target_id(bot) or bot.remote_id
    if user_id is None:
        return None
    dialog = bot.answer.get("dialog") or str(user_id)
    text = str(bot.answer["text"])
    within = int(bot.answer.get("within") or 30)
    probe = AnswerProbe(bot=bot, sent_at=now, dialog=dialog, text=text, deadline=now + timedelta(seconds=within))
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


def read_answers(probe_pks: list[int]) -> list[AnswerProbe]:
    """One read of each open probe's dialog, through one client per portal; the probes as they are
    after it (those still waiting have their next_read_at)."""
    probes = AnswerProbe.objects.select_related("bot__portal").filter(pk__in=probe_pks, outcome="pending")
    client_of = portal_clients()
    return [read_answer(client_of(probe.bot.portal), probe, timezone.now()) for probe in probes.order_by("pk")]


def read_answer(client: Bitrix24Client, probe: AnswerProbe, now: datetime) -> AnswerProbe:
    """One read of the dialog after the probe's message: answered, no answer (past `within`), or
    still waiting (next_read_at set: the caller schedules the next read)."""
    bot = probe.bot
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


def read_in_task(probe_pks: list[int]) -> None:
    """The read task's body: read the batch's open probes, then one task for the next read of
    those still waiting, when the first of them is due."""
    waiting = [p for p in read_answers(probe_pks) if not p.done and p.next_read_at is not None]
    if waiting:
        wait = (min(p.next_read_at for p in waiting) - timezone.now()).total_seconds()
        enqueue(READ_TASK, [p.pk for p in waiting], countdown=max(0.0, wait))


def send_in_task(bot_pks: list[int]) -> None:
    """The send task's body: the batch's probes, then one read task for those sent."""
    waiting = [p.pk for p in send_probes(bot_pks) if not p.done]
    if waiting:
        enqueue(READ_TASK, waiting, countdown=FIRST_READ)


def rescue_lost_reads(now: datetime | None = None) -> int:
    """Pending probes whose read task was lost (a worker restarted): read again; those past their
    deadline by far end as no answer at their next read."""
    now = now or timezone.now()
    lost = AnswerProbe.objects.filter(outcome="pending", next_read_at__lt=now - LOST_READ)
    by_portal: dict[int, list[int]] = {}
    for pk, portal_id in lost.values_list("pk", "bot__portal_id")[:100]:
        by_portal.setdefault(portal_id, []).append(pk)
    for pks in by_portal.values():
        AnswerProbe.objects.filter(pk__in=pks, outcome="pending").update(next_read_at=now)
        enqueue(READ_TASK, pks)  # one read task per portal, as the probes' own
    return sum(len(pks) for pks in by_portal.values())


def prune_probes(now: datetime | None = None) -> int:
    return AnswerProbe.objects.filter(sent_at__lt=(now or timezone.now()) - PROBES_KEPT).delete()[0]


# -- verify: in the command's own process -----------------------------------------------------------


def probe_now(bot_pks: list[int], sleep: Callable[[float], None] = time.sleep) -> dict[int, AnswerProbe]:
    """Sends the probes of these bots now and waits for their answers (at most their `within`)."""
    probes = {p.bot_id: p for p in send_probes(bot_pks)}
    waiting = [p for p in probes.values() if not p.done]
    while waiting:
        due = min(p.next_read_at for p in waiting)
        sleep(max(0.0, (due - timezone.now()).total_seconds()))
        ready = [p.pk for p in waiting if p.next_read_at <= timezone.now()]
        probes.update({p.bot_id: p for p in read_answers(ready)})
        waiting = [p for p in probes.values() if not p.done]
    return probes
