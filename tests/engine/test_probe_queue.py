"""Answer probes never delay a verification: their tasks travel on a queue of their own, one send
task per run and one read task per batch of probes sent together, and a worker runs their work on
probe threads beside its pool, never on the threads the verifications are counted on."""

import socket

import pytest
from django.utils import timezone

from checks.engine import answers, claims, verify
from checks.engine.dispatch import dispatch_due
from checks.models import AnswerProbe, Bot
from dashboard.celery import app
from tests.alerts.helpers import simulator_portal
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.history import checks_of

HOOK = "hook-s3cret-probes"
PROBE = {"text": "/ping", "within": 30, "every": 900}


def queued(queue: str) -> list[tuple[str, list, str | None]]:
    """(task name, args, eta) of each message waiting on a queue of this run's broker (Redis, or
    the filesystem broker make run uses), taken off the queue."""
    rows = []
    with app.connection_for_read() as connection:
        bound = app.amqp.queues[queue](connection.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            args = message.decode()[0]
            rows.append((message.headers["task"], args, message.headers.get("eta")))
    return rows


def add_bots(simulator, portal, codes: list[str], answer: dict) -> list[Bot]:
    bots = []
    for code in codes:
        created = simulator.add_bot(portal.name, code=code, bot_token=f"{code}-tok", growth=False)
        bots.append(Bot.objects.create(portal=portal, code=code, bot_token=f"{code}-tok", answer=answer,
                                       bot_id=created["id"]))  # fmt: skip
    return bots


@pytest.mark.django_db
def test_a_runs_due_probes_make_one_send_task_and_their_reads_one_read_task(
    simulator, broker_url, django_capture_on_commit_callbacks
):
    portal = simulator_portal(simulator, "acme", HOOK)
    probed = add_bots(simulator, portal, ["bot_a", "bot_b", "bot_c"], PROBE)
    add_bots(simulator, portal, ["plain_bot"], {})
    with django_capture_on_commit_callbacks(execute=True):
        verify.verify_portal(portal.pk, claims.claim_portal(portal.pk))
    [(task, [bot_pks], _)] = queued("probes")
    assert task == answers.SEND_TASK and sorted(bot_pks) == sorted(b.pk for b in probed)
    assert queued("verify") == []

    answers.send_in_task(bot_pks)  # the send task's body, here
    assert len(simulator.messages("acme")) == 3
    [(task, [probe_pks], eta)] = queued("probes")
    assert task == answers.READ_TASK and eta is not None
    assert sorted(probe_pks) == sorted(AnswerProbe.objects.filter(outcome="pending").values_list("pk", flat=True))
    assert len(probe_pks) == 3


@pytest.mark.django_db
def test_reads_lost_with_a_worker_are_read_again_by_one_task_per_portal(simulator, broker_url):
    lost_at = timezone.now() - timezone.timedelta(minutes=3)
    for name in ("acme", "umbrella"):
        portal = simulator_portal(simulator, name, HOOK)
        for bot in add_bots(simulator, portal, ["bot_a", "bot_b"], PROBE):
            AnswerProbe.objects.create(bot=bot, dialog=str(bot.bot_id), text="/ping", message_id=7,
                                       sent_at=lost_at, deadline=lost_at, next_read_at=lost_at)  # fmt: skip
    assert answers.rescue_lost_reads() == 4
    reads = queued("probes")
    assert [task for task, _, _ in reads] == [answers.READ_TASK] * 2
    by_portal = {frozenset(AnswerProbe.objects.filter(pk__in=pks).values_list("bot__portal__name", flat=True))
                 for _, [pks], _ in reads}  # fmt: skip
    assert by_portal == {frozenset({"acme"}), frozenset({"umbrella"})}
    assert all(len(pks) == 2 for _, [pks], _ in reads)


@pytest.mark.slow
def test_a_verification_queued_after_a_runs_probes_is_run_at_once(celery_procs, simulator, smtp_sink):
    # Sixteen probes whose im.message.add takes 3 s each: 48 s of sends, queued before acme's check.
    chatty = simulator_portal(simulator, "chatty", HOOK, alert_emails=[])
    probed = add_bots(simulator, chatty, [f"bot{i}" for i in range(16)], PROBE)
    simulator.inject_fault("chatty", "timeout", method="im.message.add", sleep_s=3)
    tomorrow = timezone.now() + timezone.timedelta(days=1)
    acme = simulator_portal(simulator, "acme", HOOK, alert_emails=[], next_check_at=tomorrow)
    [plain] = add_bots(simulator, acme, ["plain_bot"], {})
    Bot.objects.filter(pk=plain.pk).update(next_check_at=tomorrow)

    celery_procs.env.update(smtp_sink.env, BOTWATCH_PROBE_THREADS="1")
    celery_procs.start_worker("w1", concurrency=4, wait=False)
    celery_procs.wait_ready(f"worker:w1@{socket.gethostname()}", "w1")
    now = timezone.now()
    Bot.objects.filter(portal=chatty).update(next_check_at=now, answer_next_at=now)
    assert dispatch_due() == 1
    wait_for(lambda: all(checks_of(b) for b in probed), 30, "chatty's check")
    wait_for(lambda: simulator.stats("chatty")["in_flight"], 10, "the first probe's send")

    Bot.objects.filter(pk=plain.pk).update(next_check_at=timezone.now())
    assert dispatch_due() == 1  # acme's claim: the worker has room for it
    # On the verify queue behind sixteen probe tasks, it would wait for at least 12 s of sends.
    wait_for(lambda: checks_of(plain), 6, "acme's check")
    assert len(simulator.messages("chatty")) < 16  # the probes were still being sent meanwhile
