"""Portal incidents end to end through `manage.py verify`: the simulator over HTTP, the engine,
incidents, and emails delivered to a real SMTP server before the command returns. A failing portal opens
one incident for all its bots, with one email, one reminder schedule, one acknowledgement; its recovery
resolves it with one email and the bots' own statuses take over."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from checks.alerts.actions import acknowledge, mute_portal
from checks.alerts.incidents import send_reminders
from checks.models import Bot, Incident, Notification, Portal, Verification
from checks.status import Status

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "hook-s3cret-p0rtal"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.BITRIX24_RETRY_DELAY = 0.01
    settings.BITRIX24_TIMEOUT = 1.0


def setup_portal(simulator, bots: int = 10, **sim_kwargs) -> Portal:
    simulator.add_portal("acme", webhook_user_id=1, webhook_code=HOOK, **sim_kwargs)
    portal = Portal.objects.create(
        name="acme", url=simulator.portal_url("acme"), webhook_user_id=1, webhook_code=HOOK,
        alert_emails=["support@example.com"], pace_rate=50, pace_burst=50,
    )  # fmt: skip
    for i in range(bots):
        simulator.add_bot("acme", code=f"bot_{i:02}", bot_token=f"token-{i:02}-4e1d", growth=False)
        Bot.objects.create(portal=portal, code=f"bot_{i:02}", bot_token=f"token-{i:02}-4e1d")
    return portal


def verify() -> int:
    try:
        call_command("verify", stdout=open("/dev/null", "w"))  # noqa: SIM115
    except CommandError as exc:
        return exc.returncode
    return 0


def subjects(smtp_sink) -> list[str]:
    return [m["Subject"] for m in smtp_sink.messages]


def test_an_outage_of_three_sweeps_opens_one_portal_incident_with_one_email(simulator, smtp_sink):
    portal = setup_portal(simulator, own_port=True)
    assert verify() == 0
    simulator.set_outage("acme", "refused")
    for _ in range(3):  # unreachable: 3 in a row
        assert verify() == 1
    assert subjects(smtp_sink) == ["[BotWatch] acme unreachable: 10 bots not verified"]
    text = smtp_sink.text_of(smtp_sink.messages[0])
    assert "this one incident stands for all of them (no email per bot)" in text
    assert "Not verified:      bot_00, bot_01," in text and "refused the connection" in text
    [incident] = Incident.objects.all()
    assert (incident.kind, incident.bot, incident.portal, incident.last_status) == (
        "portal", None, portal, Status.UNREACHABLE,
    )  # fmt: skip
    assert Verification.objects.filter(by_portal=True).count() == 30
    assert verify() == 1  # still down: nothing new
    assert len(smtp_sink.messages) == 1 and Incident.objects.count() == 1

    simulator.set_outage("acme", None)
    assert verify() == 0
    assert subjects(smtp_sink)[1:] == ["[BotWatch] RESOLVED: portal acme answers again (was unreachable)"]
    incident.refresh_from_db()
    assert incident.state == "resolved" and Incident.objects.count() == 1
    assert HOOK not in "".join(m.as_string() for m in smtp_sink.messages)


def test_a_bot_still_failing_on_its_own_opens_its_incident_after_the_recovery(simulator, smtp_sink):
    setup_portal(simulator, bots=3)
    assert verify() == 0
    simulator.inject_fault("acme", "INVALID_CREDENTIALS")
    simulator.remove_bot("acme", "bot_01")
    assert verify() == 1 and verify() == 1  # auth_failed: 2 in a row
    assert subjects(smtp_sink) == ["[BotWatch] acme auth failed (INVALID_CREDENTIALS): 3 bots not verified"]
    simulator.clear_faults("acme")
    assert verify() == 1
    assert subjects(smtp_sink)[1:] == [
        "[BotWatch] RESOLVED: portal acme answers again (was auth failed)",
        "[BotWatch] BOT_NOT_FOUND: bot_01 on acme",
    ]
    resolved = smtp_sink.text_of(smtp_sink.messages[1])
    assert "Failing on their own:\n  - bot_01: BOT_NOT_FOUND" in resolved.replace("\r\n", "\n")
    assert list(Incident.objects.order_by("pk").values_list("kind", "state")) == [
        ("portal", "resolved"), ("bot", "open"),
    ]  # fmt: skip


def test_an_open_bot_incident_is_left_alone_while_its_portal_fails(simulator, smtp_sink):
    setup_portal(simulator, bots=2)
    simulator.remove_bot("acme", "bot_00")
    assert verify() == 1
    assert subjects(smtp_sink) == ["[BotWatch] BOT_NOT_FOUND: bot_00 on acme"]
    simulator.inject_fault("acme", "ACCESS_DENIED")  # portal_unavailable: 2 in a row
    assert verify() == 1 and verify() == 1
    assert subjects(smtp_sink)[1:] == ["[BotWatch] acme unavailable (ACCESS_DENIED): 2 bots not verified"]
    bot_incident = Incident.objects.get(kind="bot")
    assert (bot_incident.state, bot_incident.last_status) == ("open", Status.NOT_FOUND)  # no change recorded


def test_one_reminder_schedule_and_one_acknowledgement(simulator, smtp_sink, settings):
    setup_portal(simulator, bots=4)
    simulator.inject_fault("acme", "INVALID_CREDENTIALS")
    assert verify() == 1 and verify() == 1
    [incident] = Incident.objects.all()
    Incident.objects.filter(pk=incident.pk).update(opened_at=timezone.now() - timedelta(hours=25))
    assert len(send_reminders(inline=True)) == 1
    assert len(send_reminders(inline=True)) == 0  # the next one in 24 h
    assert subjects(smtp_sink)[1:] == [
        "[BotWatch] Still failing: acme auth failed (INVALID_CREDENTIALS): 4 bots not verified"
    ]
    user = get_user_model().objects.create_user("oncall")
    assert acknowledge(Incident.objects.get(), user, "calling the customer")
    Incident.objects.filter(pk=incident.pk).update(last_reminder_at=timezone.now() - timedelta(hours=25))
    assert send_reminders(inline=True) == []


def test_a_muted_portal_opens_silently_and_is_announced_when_the_mute_ends(simulator, smtp_sink):
    portal = setup_portal(simulator, bots=2)
    mute_portal(portal, timezone.now() + timedelta(hours=1), None)
    simulator.inject_fault("acme", "ACCESS_DENIED")
    assert verify() == 1 and verify() == 1
    assert smtp_sink.messages == [] and Incident.objects.get().suppressed
    Portal.objects.filter(pk=portal.pk).update(muted_until=timezone.now() - timedelta(minutes=1))
    assert len(send_reminders(inline=True)) == 1
    assert subjects(smtp_sink) == ["[BotWatch] acme unavailable (ACCESS_DENIED): 2 bots not verified"]


def test_a_switched_off_webhook_user_is_one_portal_incident_with_its_guidance(simulator, smtp_sink):
    setup_portal(simulator, bots=3)
    simulator.set_webhook_user_active("acme", False)
    assert verify() == 1 and verify() == 1
    [email] = smtp_sink.messages
    assert email["Subject"] == "[BotWatch] acme auth failed: 3 bots not verified"
    text = smtp_sink.text_of(email)
    assert "webhook_user: the webhook's user is switched off" in text
    assert "Probable causes of webhook_user" in text and "dismissed or switched off" in text
    assert Incident.objects.filter(kind="bot").count() == 0


def test_an_app_whose_installation_was_not_finished_is_a_problem_of_the_portal(simulator, smtp_sink, settings):
    settings.BITRIX24_OAUTH_URL = simulator.oauth_url
    simulator.add_portal("umbrella", webhook_code=None)
    tokens = simulator.add_oauth_app("umbrella", "local.app1", "s3cret")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.app1")
    simulator.set_app_info("umbrella", "local.app1", installed=False)
    portal = Portal.objects.create(
        name="umbrella", url=simulator.portal_url("umbrella"), auth_type="oauth", oauth_client_id="local.app1",
        oauth_client_secret="s3cret", oauth_access_token=tokens["access_token"], pace_rate=50, pace_burst=50,
        oauth_refresh_token=tokens["refresh_token"], alert_emails=["support@example.com"],
    )  # fmt: skip
    Bot.objects.create(portal=portal, code="assistant_bot")
    assert verify() == 0  # the bot itself is fine
    Portal.objects.filter(pk=portal.pk).update(app_info_checked_at=None)
    assert verify() == 0  # degraded: 2 in a row
    assert subjects(smtp_sink) == ["[BotWatch] umbrella degraded (app_installed): its bots are still verified"]
    assert "INSTALLED is false" in smtp_sink.text_of(smtp_sink.messages[0])
    assert Bot.objects.get().status == Status.OK

    simulator.set_app_info("umbrella", "local.app1", installed=True)
    Portal.objects.filter(pk=portal.pk).update(app_info_checked_at=None)
    assert verify() == 0
    assert subjects(smtp_sink)[1:] == ["[BotWatch] RESOLVED: portal umbrella answers again (was degraded)"]
    assert Notification.objects.count() == 2
