"""Portal health through real `celery worker` processes on Redis and PostgreSQL, the simulator
over HTTP and a real SMTP server: a failing portal is one incident and one email, its recovery one more;
a fleet wave over four portals is at most three emails, one listing all four, and a fifth portal joining
within the hour adds none; the app's paid period ending warns once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.engine.dispatch import dispatch_due
from checks.models import AuthType, Bot, Incident, Notification, Portal, Verification
from tests.alerts.helpers import make_portal
from tests.alerts.test_alerts_workers import settle, start_workers
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.history import all_checks

pytestmark = [pytest.mark.slow]

HOOK = "hook-s3cret-f1eet"
TOKEN = "fleet-token-2c9d"


@pytest.fixture(autouse=True)
def _quick_workers(celery_procs):
    # Short retry delays; a wave gathers its portals for five seconds before its email.
    celery_procs.env.update(BITRIX24_RETRY_DELAY="0.05", BITRIX24_TIMEOUT="2", BOTWATCH_WAVE_GRACE="5")


def add_portal(simulator, name: str, bots: int, **sim_kwargs) -> list[Bot]:
    simulator.add_portal(name, webhook_user_id=1, webhook_code=HOOK, **sim_kwargs)
    portal = make_portal(name, url=simulator.portal_url(name), webhook_code=HOOK, pace_rate=50, pace_burst=50)
    codes = ["support_bot", *[f"bot_{i:02}" for i in range(1, bots)]]
    for code in codes:
        simulator.add_bot(name, code=code, bot_token=f"{TOKEN}-{code}", growth=False, event_mode="webhook")
    return [Bot.objects.create(portal=portal, code=code, bot_token=f"{TOKEN}-{code}") for code in codes]


def sweep(bots: list[Bot]) -> None:
    """Beat's tick when these bots are due: their portals claimed, one task each; then wait for the rows."""
    before = len(all_checks())
    Bot.objects.filter(pk__in=[b.pk for b in bots]).update(next_check_at=timezone.now())
    # A tick claims no more portals than the workers can run (BOTWATCH_RESERVED_THREADS stay
    # free); a finished run claims the next one, and later ticks the rest.
    assert dispatch_due() >= 1

    def recorded() -> bool:
        if len(all_checks()) >= before + len(bots):
            return True
        dispatch_due()  # what beat does every 5 s
        return False

    wait_for(recorded, 30, "the workers' verifications", every=1)


def test_a_portal_down_for_three_sweeps_is_one_incident_one_email_and_one_recovery(celery_procs, simulator, smtp_sink):
    bots = add_portal(simulator, "acme", 10, own_port=True)
    start_workers(celery_procs, smtp_sink)
    sweep(bots)
    simulator.set_outage("acme", "refused")
    for _ in range(3):
        sweep(bots)
    settle(smtp_sink, 1)
    assert smtp_sink.messages[0]["Subject"] == "[BotWatch] acme unreachable: 10 bots not verified"
    [incident] = Incident.objects.filter(state="open")
    assert (incident.kind, incident.portal.name) == ("portal", "acme")
    assert Incident.objects.count() == 1 and Verification.objects.filter(by_portal=True).count() == 30

    simulator.set_outage("acme", None)
    sweep(bots)
    settle(smtp_sink, 2)
    assert smtp_sink.messages[1]["Subject"] == "[BotWatch] RESOLVED: portal acme answers again (was unreachable)"
    assert not Incident.objects.filter(state="open").exists()
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    for message in smtp_sink.messages:
        assert HOOK not in message.as_string() and TOKEN not in message.as_string()


def test_a_wave_over_four_portals_is_at_most_three_emails_and_a_fifth_portal_adds_none(
    celery_procs, simulator, smtp_sink
):
    names = ["acme", "globex", "hooli", "initech", "umbrella"]
    fleet = {name: add_portal(simulator, name, 2) for name in names}
    Bot.objects.filter(portal__name="umbrella").update(next_check_at=timezone.now() + timedelta(hours=1))
    start_workers(celery_procs, smtp_sink)
    four = [bot for name in names[:4] for bot in fleet[name]]
    sweep(four)
    assert simulator.remove_bot_code("support_bot", portals=names[:4]) == names[:4]
    sweep(four)  # four portals at once, on four worker threads
    emails = smtp_sink.wait_for(3, timeout=30)
    settle(smtp_sink, 3)
    subjects = [m["Subject"] for m in emails]
    assert sum(s.startswith("[BotWatch] BOT_NOT_FOUND: support_bot on ") for s in subjects) == 2
    [wave] = [m for m in emails if m["Subject"] == "[BotWatch] Fleet wave: support_bot BOT_NOT_FOUND on 4 portals"]
    text = smtp_sink.text_of(wave)
    assert all(f"== {name}: support_bot BOT_NOT_FOUND ==" in text for name in names[:4])

    sweep(fleet["umbrella"])
    simulator.remove_bot_code("support_bot", portals=["umbrella"])
    sweep(fleet["umbrella"])
    wait_for(lambda: Incident.objects.filter(portal__name="umbrella", wave__isnull=False).exists(), 30, "its part")
    settle(smtp_sink, 3)
    [wave_row] = Incident.objects.filter(kind="wave")
    assert sorted(wave_row.parts.values_list("portal__name", flat=True)) == names


def test_the_paid_period_ending_warns_once(celery_procs, simulator, smtp_sink):
    simulator.add_portal("umbrella", webhook_code=None)
    tokens = simulator.add_oauth_app("umbrella", "local.umbrella.app", "s3cret-umbrella")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.umbrella.app", growth=False)
    simulator.set_app_info("umbrella", "local.umbrella.app", days=5)
    portal = Portal.objects.create(
        name="umbrella", url=simulator.portal_url("umbrella"), auth_type=AuthType.OAUTH,
        oauth_client_id="local.umbrella.app", oauth_client_secret="s3cret-umbrella", pace_rate=50, pace_burst=50,
        oauth_access_token=tokens["access_token"], oauth_refresh_token=tokens["refresh_token"],
        alert_emails=["owner@example.com"],
    )  # fmt: skip
    bots = [Bot.objects.create(portal=portal, code="assistant_bot")]
    celery_procs.env["BITRIX24_OAUTH_URL"] = simulator.oauth_url
    start_workers(celery_procs, smtp_sink, names=("w1", "w2"))
    # app.info read again and again (each sweep as if a day later); DAYS counted on the portal's clock
    # reads a day less for the same end of the period.
    for days in (5, 5, 4, 4):
        simulator.set_app_info("umbrella", "local.umbrella.app", days=days)
        Portal.objects.filter(pk=portal.pk).update(app_info_checked_at=timezone.now() - timedelta(days=1))
        sweep(bots)
    settle(smtp_sink, 1)
    assert smtp_sink.messages[0]["Subject"].startswith("[BotWatch] umbrella: the app's paid period ends in 5 days")
    assert Notification.objects.count() == 1
