"""`manage.py verify`: the workers' code path, synchronously, against the simulator."""

import io
import json

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from checks.models import Bot, Incident, Portal, Verification
from checks.status import Status


def add_portal(simulator, name: str, codes=("alpha", "beta"), **portal_kwargs) -> Portal:
    simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y")
    portal = Portal.objects.create(
        name=name, url=simulator.portal_url(name), webhook_user_id=1, webhook_code="k3y", **portal_kwargs
    )
    for code in codes:
        simulator.add_bot(name, code=code, bot_token=f"{code}-token", counters={"countMessage": 7})
        Bot.objects.create(portal=portal, code=code, bot_token=f"{code}-token")
    return portal


def verify(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_all_ok_exits_zero_with_one_json_line_per_bot(simulator):
    add_portal(simulator, "acme")
    code, out, _ = verify("--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(x["portal"], x["bot"], x["status"]) for x in lines] == [("acme", "alpha", "ok"), ("acme", "beta", "ok")]
    first = lines[0]
    assert first["error"] is None and first["http_status"] == 200
    assert first["counters"]["countMessage"] >= 7 and isinstance(first["duration_ms"], int)
    assert Verification.objects.filter(manual=True).count() == 2


@pytest.mark.django_db
def test_bot_named_by_id_is_shown_as_its_id(simulator):
    portal = add_portal(simulator, "acme", codes=())
    simulator.add_bot("acme", code="by_id", bot_id=456, bot_token="t")
    Bot.objects.create(portal=portal, bot_id=456, bot_token="t")
    code, out, _ = verify("--json")
    assert code == 0 and json.loads(out)["bot"] == "456"


@pytest.mark.django_db
def test_a_bad_bot_exits_one_and_only_named_portals_are_verified(simulator):
    add_portal(simulator, "acme")
    add_portal(simulator, "other")
    simulator.remove_bot("acme", "beta")
    code, out, err = verify("--portal", "acme")
    assert code == 1 and "1 of 2 bot(s) not ok" in err
    assert "not_found" in out and "BOT_NOT_FOUND" in out
    assert set(Verification.objects.values_list("portal__name", flat=True)) == {"acme"}
    assert Bot.objects.get(portal__name="acme", code="beta").status == Status.NOT_FOUND


@pytest.mark.django_db
def test_unknown_portal_is_a_configuration_error_and_verifies_nothing(simulator):
    add_portal(simulator, "acme")
    code, _, err = verify("--portal", "acme", "--portal", "nope")
    assert code == 2 and "nope" in err
    assert Verification.objects.count() == 0


@pytest.mark.django_db
def test_paused_portals_and_disabled_bots_are_skipped(simulator):
    add_portal(simulator, "acme")
    add_portal(simulator, "quiet", paused=True)
    Bot.objects.filter(code="beta", portal__name="acme").update(enabled=False)
    code, _, err = verify("--portal", "acme", "--portal", "quiet")
    assert code == 0 and "quiet: paused" in err
    assert list(Verification.objects.values_list("bot__code", flat=True)) == ["alpha"]


@pytest.mark.django_db(transaction=True)
def test_incident_and_email_are_done_before_the_command_returns(simulator):
    add_portal(simulator, "acme")
    simulator.remove_bot("acme", "alpha")
    code, _, _ = verify()
    assert code == 1
    incident = Incident.objects.get(bot__code="alpha")
    assert incident.state == Incident.State.OPEN and incident.status == Status.NOT_FOUND
    assert len(mail.outbox) == 1 and "alpha" in (mail.outbox[0].subject + mail.outbox[0].body)


class FakeTime:
    """The command's clock while a wave gathers: records the wait instead of sleeping it."""

    def __init__(self):
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [0, 60])
def test_a_wave_found_in_one_run_gathers_and_its_one_email_lists_every_portal(simulator, settings, monkeypatch, grace):
    settings.BOTWATCH_WAVE_GRACE = grace
    clock = FakeTime()
    monkeypatch.setattr("checks.management.commands.verify.time", clock, raising=False)
    names = ["acme", "globex", "hooli", "initech"]
    for name in names:
        add_portal(simulator, name)
        simulator.remove_bot(name, "alpha")

    code, _, err = verify()

    assert code == 1
    waves = [m for m in mail.outbox if "Fleet wave" in m.subject]
    assert [m.subject for m in waves] == ["[BotWatch] Fleet wave: alpha BOT_NOT_FOUND on 4 portals"]
    assert all(f"== {name}: alpha BOT_NOT_FOUND ==" in waves[0].body for name in names)
    assert len(mail.outbox) == 3  # the first two portals' own emails, then the wave's
    wave = Incident.objects.get(kind=Incident.Kind.WAVE)
    assert not wave.suppressed and wave.parts.count() == 4
    if grace:
        assert len(clock.slept) == 1 and 0 < clock.slept[0] <= grace
        assert "gathering its portals" in err
    else:
        assert clock.slept == []


@pytest.mark.django_db
def test_verify_waits_for_the_probed_bots_answers_and_reports_answer_ms(simulator):
    portal = add_portal(simulator, "acme", codes=("greeter", "plain"))
    simulator.set_answer("acme", "greeter", delay_s=1)
    Bot.objects.filter(code="greeter").update(answer={"text": "/ping", "within": 5, "every": 900})
    code, out, _ = verify("--json")
    lines = {line["bot"]: line for line in map(json.loads, out.splitlines())}
    assert code == 0
    assert 500 <= lines["greeter"]["answer_ms"] <= 1500
    assert lines["plain"]["answer_ms"] is None
    [sent] = simulator.messages("acme")
    assert sent["message"] == "/ping" and sent["dialog_id"] == str(portal.bots.get(code="greeter").remote_id)


@pytest.mark.django_db
def test_verify_reports_no_answer_as_null_after_within(simulator):
    add_portal(simulator, "acme", codes=("dead",))
    simulator.set_answer("acme", "dead", mode="never")
    Bot.objects.filter(code="dead").update(answer={"text": "/ping", "within": 2, "every": 900})
    _, out, _ = verify("--json")
    assert json.loads(out)["answer_ms"] is None
    assert Bot.objects.get(code="dead").answer_problem["check"] == "no_answer"
