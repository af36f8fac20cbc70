"""The answer probe through real `celery worker` processes, the simulator over HTTP and a real SMTP
server: a check sends the probe, reads are scheduled tasks, the verdict rides the next check."""

import socket

import pytest
from django.utils import timezone

from checks.engine.dispatch import dispatch_due
from checks.models import AnswerProbe, Bot, Incident, Notification
from tests.alerts.helpers import simulator_portal
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.history import checks_of

pytestmark = [pytest.mark.slow]

HOOK = "hook-s3cret-answers"
PROBE = {"text": "/ping", "within": 3, "every": 60}


def setup(simulator, **backends) -> dict[str, Bot]:
    """One portal; a bot per keyword: its backend's behaviour (None: a bot BotWatch does not probe)."""
    portal = simulator_portal(simulator, "acme", HOOK)
    bots = {}
    for code, backend in backends.items():
        created = simulator.add_bot("acme", code=code, bot_token=f"{code}-tok", growth=False)
        if backend is not None:
            simulator.set_answer("acme", code, **backend)
        answer = PROBE if backend is not None else {}
        bots[code] = Bot.objects.create(portal=portal, code=code, bot_token=f"{code}-tok", answer=answer,
                                        bot_id=created["id"])  # fmt: skip
    return bots


def start_worker(celery_procs, smtp_sink) -> None:
    celery_procs.env.update(smtp_sink.env)
    celery_procs.start_worker("w1", concurrency=4, wait=False)
    celery_procs.wait_ready(f"worker:w1@{socket.gethostname()}", "w1")


def sweep(bots: list[Bot]) -> None:
    """Beat's claim of the due portal, with each bot's check and probe due now; then the check."""
    before = {bot.pk: len(checks_of(bot)) for bot in bots}
    now = timezone.now()
    Bot.objects.filter(pk__in=before).update(next_check_at=now, answer_next_at=now)
    assert dispatch_due() == 1
    wait_for(lambda: all(len(checks_of(b)) > before[b.pk] for b in bots), 30, "the worker's verification")


def finished_probes(bot: Bot) -> list[AnswerProbe]:
    return list(AnswerProbe.objects.filter(bot=bot).exclude(outcome="pending").order_by("sent_at"))


def test_a_bot_answering_in_one_second_shows_about_one_second(celery_procs, simulator, smtp_sink):
    bots = setup(simulator, greeter_bot={"delay_s": 1})
    start_worker(celery_procs, smtp_sink)
    sweep(list(bots.values()))
    [probe] = wait_for(lambda: finished_probes(bots["greeter_bot"]), 30, "the probe's answer")
    assert probe.outcome == "answered"
    assert 500 <= probe.answer_ms <= 1500, probe.answer_ms
    bot = Bot.objects.get(pk=bots["greeter_bot"].pk)
    assert bot.last_answer_ms == probe.answer_ms and bot.answer_problem == {}
    [sent] = simulator.messages("acme")
    assert sent["dialog_id"] == str(bot.bot_id) and sent["message"] == "/ping"


def test_a_bot_that_never_answers_gets_one_incident_and_one_email_after_two_probes(celery_procs, simulator, smtp_sink):
    bots = setup(simulator, dead_bot={"mode": "never"}, quiet_bot=None)
    dead, quiet = bots["dead_bot"], bots["quiet_bot"]
    start_worker(celery_procs, smtp_sink)
    for probes in (1, 2):
        sweep([dead, quiet])
        wait_for(lambda n=probes: len(finished_probes(dead)) == n, 30, f"probe {probes} to end")
    assert [p.outcome for p in finished_probes(dead)] == ["no_answer", "no_answer"]
    sweep([dead, quiet])  # carries the second probe's verdict: degraded twice in a row
    [email] = smtp_sink.wait_for(1, timeout=30)
    assert "dead_bot" in email["Subject"]
    body = email.get_body(("plain",)).get_content()
    assert "no_answer" in body and "Dead or slow?" in body
    wait_for(lambda: Notification.objects.count() >= 1, 10, "the notification row")
    assert Incident.objects.filter(bot=dead).count() == 1
    assert not Incident.objects.filter(bot=quiet).exists()
    assert Notification.objects.count() == 1
    assert Bot.objects.get(pk=dead.pk).status == "degraded"
    # The bot without `answer` never received a message: every im.message.add went to dead_bot.
    sent = simulator.messages("acme")
    assert len(sent) == 3 and {m["dialog_id"] for m in sent} == {str(dead.bot_id)}
    assert simulator.stats("acme")["methods"]["im.message.add"] == 3
