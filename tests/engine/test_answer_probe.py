"""The answer probe and silence through the engine and the real client, against the simulator over
HTTP: what is sent, what a refusal and a lost answer do, and which bots are silent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.engine import answers, verify
from checks.models import Bot, Portal

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(simulator) -> Portal:
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    return Portal.objects.create(name="acme", url=simulator.portal_url("acme"), webhook_user_id=1,
                                 webhook_code="k3y", pace_rate=50, pace_burst=50)  # fmt: skip


def add_bot(simulator, portal: Portal, code: str, **fields) -> Bot:
    created = simulator.add_bot("acme", code=code, bot_token=f"{code}-tok", growth=fields.pop("growth", True))
    return Bot.objects.create(portal=portal, code=code, bot_token=f"{code}-tok", bot_id=created["id"], **fields)


def run(portal: Portal) -> dict:
    return {row.bot.code: row for row in verify.verify_portal(portal.pk, manual=True)}


def problems(row) -> list[str]:
    return [p["check"] for p in row.problems]


def test_a_refused_probe_is_answer_refused_with_bitrix24s_code(simulator, portal):
    bot = add_bot(simulator, portal, "support_bot", answer={"text": "/ping", "within": 5, "every": 900})
    simulator.set_webhook_scope("acme", "imbot")
    [probe] = answers.send_probes([bot.pk])
    assert probe.outcome == "refused" and probe.error_code == "insufficient_scope"
    row = run(portal)["support_bot"]
    assert row.status == "degraded" and problems(row) == ["answer_refused"]
    assert "insufficient_scope" in row.problems[0]["detail"]


def test_the_probe_users_webhook_sends_and_reads_in_its_own_dialog(simulator, portal):
    simulator.add_webhook("acme", 9, "pr0be-c0de", scope="im")
    Portal.objects.filter(pk=portal.pk).update(answer_webhook_user_id=9, answer_webhook_code="pr0be-c0de")
    bot = add_bot(simulator, portal, "support_bot", answer={"text": "/ping", "within": 5, "every": 900})
    simulator.set_answer("acme", "support_bot", delay_s=0)
    [probe] = answers.probe_now([bot.pk]).values()
    assert probe.outcome == "answered"
    assert [m["author_id"] for m in simulator.dialog("acme")] == [9, bot.bot_id]


def test_a_send_whose_answer_was_lost_is_found_in_the_dialog_and_not_sent_again(simulator, portal):
    bot = add_bot(simulator, portal, "support_bot", answer={"text": "/ping", "within": 5, "every": 900})
    simulator.set_answer("acme", "support_bot", delay_s=0)
    simulator.inject_fault("acme", "truncated_json", method="im.message.add", times=1)
    [probe] = answers.probe_now([bot.pk]).values()
    assert len(simulator.messages("acme")) == 1
    assert probe.outcome == "answered" and probe.message_id == simulator.messages("acme")[0]["id"]


def test_a_send_refused_before_it_was_written_is_sent_again_once(simulator, portal):
    bot = add_bot(simulator, portal, "support_bot", answer={"text": "/ping", "within": 5, "every": 900})
    simulator.set_answer("acme", "support_bot", delay_s=0)
    simulator.inject_fault("acme", "html_502", method="im.message.add", times=1)
    [probe] = answers.probe_now([bot.pk]).values()
    assert len(simulator.messages("acme")) == 1 and probe.outcome == "answered"


def test_an_answered_probe_clears_the_problem(simulator, portal):
    bot = add_bot(simulator, portal, "support_bot", answer={"text": "/ping", "within": 5, "every": 900},
                  answer_problem={"check": "no_answer", "detail": "earlier", "key": "no_answer"})  # fmt: skip
    assert problems(run(portal)["support_bot"]) == ["no_answer"]
    simulator.set_answer("acme", "support_bot", delay_s=0)
    answers.probe_now([bot.pk])
    assert run(portal)["support_bot"].status == "ok"


def test_a_silent_bot_is_flagged_and_a_busy_one_is_not(simulator, portal):
    silent = add_bot(simulator, portal, "silent_bot", silence=600, growth=False)
    busy = add_bot(simulator, portal, "busy_bot", silence=600)
    run(portal)  # the first look: countMessage seen, its growth noted
    long_ago = timezone.now() - timedelta(minutes=11)
    Bot.objects.filter(pk__in=[silent.pk, busy.pk]).update(message_growth_at=long_ago)
    rows = run(portal)
    assert rows["silent_bot"].status == "degraded" and problems(rows["silent_bot"]) == ["silent"]
    assert "has stayed at" in rows["silent_bot"].problems[0]["detail"]
    assert rows["busy_bot"].status == "ok"
    assert Bot.objects.get(pk=busy.pk).message_growth_at > long_ago


def test_only_bots_with_answer_are_claimed_and_each_once_per_every(simulator, portal):
    plain = add_bot(simulator, portal, "plain_bot")
    probed = add_bot(simulator, portal, "probed_bot", answer={"text": "/ping", "within": 5, "every": 900})
    bots = list(Bot.objects.filter(pk__in=[plain.pk, probed.pk]).order_by("pk").select_related("portal"))
    results = verify.check_bots(portal, bots)
    now = timezone.now()
    assert answers.claim_probes(bots, results, now) == [probed.pk]
    bots = list(Bot.objects.filter(pk__in=[plain.pk, probed.pk]).order_by("pk").select_related("portal"))
    assert answers.claim_probes(bots, results, now + timedelta(seconds=899)) == []
    assert answers.claim_probes(bots, results, now + timedelta(seconds=900)) == [probed.pk]
