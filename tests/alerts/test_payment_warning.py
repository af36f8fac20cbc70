"""The app's paid period ending: app.info DAYS within 7 days, or PAYMENT_EXPIRED, warns by email
once per period, through `manage.py verify` against the simulator over HTTP and a real SMTP server."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from checks.models import Bot, Notification, Portal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal(simulator, settings) -> Portal:
    settings.BITRIX24_OAUTH_URL = simulator.oauth_url
    simulator.add_portal("umbrella", webhook_code=None, license="en_ent250")
    tokens = simulator.add_oauth_app("umbrella", "local.umbrella.app", "s3cret-umbrella")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.umbrella.app")
    portal = Portal.objects.create(
        name="umbrella", url=simulator.portal_url("umbrella"), auth_type="oauth", oauth_client_id="local.umbrella.app",
        oauth_client_secret="s3cret-umbrella", oauth_access_token=tokens["access_token"], pace_rate=50, pace_burst=50,
        oauth_refresh_token=tokens["refresh_token"], alert_emails=["owner@example.com"],
    )  # fmt: skip
    Bot.objects.create(portal=portal, code="assistant_bot")
    return portal


def verify(portal: Portal, *, read_app_info: bool = True) -> None:
    if read_app_info:  # app.info is read at least daily: here, a day has passed
        Portal.objects.filter(pk=portal.pk).update(app_info_checked_at=timezone.now() - timedelta(days=1))
    call_command("verify", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_the_paid_period_ending_warns_once(simulator, smtp_sink, portal):
    simulator.set_app_info("umbrella", "local.umbrella.app", days=30)
    verify(portal)
    assert smtp_sink.messages == []  # a month left: nothing to say
    simulator.set_app_info("umbrella", "local.umbrella.app", days=5)
    verify(portal)
    [email] = smtp_sink.messages
    # Five days from the day app.info was read, not from whatever day it is by now.
    end = Portal.objects.get(pk=portal.pk).app_info_checked_at.date() + timedelta(days=5)
    assert email["Subject"] == f"[BotWatch] umbrella: the app's paid period ends in 5 days ({end:%Y-%m-%d})"
    assert email["To"] == "owner@example.com"
    text = smtp_sink.text_of(email)
    assert "App:               local.umbrella.app (STATUS P)" in text and "PAYMENT_REQUIRED" in text
    assert "s3cret-umbrella" not in email.as_string()

    for _ in range(3):  # app.info read again on later days: the same period
        verify(portal)
    verify(portal, read_app_info=False)
    # DAYS is counted on the portal's clock: a day less for the same end is still the same period.
    simulator.set_app_info("umbrella", "local.umbrella.app", days=4)
    verify(portal)
    assert len(smtp_sink.messages) == 1 and Notification.objects.count() == 1
    assert Portal.objects.get(pk=portal.pk).payment_warned_for == end


def test_a_renewed_period_warns_again_when_it_too_runs_out(simulator, smtp_sink, portal):
    simulator.set_app_info("umbrella", "local.umbrella.app", days=6)
    verify(portal)
    simulator.set_app_info("umbrella", "local.umbrella.app", days=36)  # renewed for a month
    verify(portal)
    assert len(smtp_sink.messages) == 1
    # A month later its end is a week away again: a new period, a new warning.
    Portal.objects.filter(pk=portal.pk).update(payment_warned_for=timezone.now().date() - timedelta(days=24))
    simulator.set_app_info("umbrella", "local.umbrella.app", days=7)
    verify(portal)
    assert len(smtp_sink.messages) == 2


def test_an_expired_period_warns_that_it_has_ended(simulator, smtp_sink, portal):
    simulator.set_app_info("umbrella", "local.umbrella.app", days=-1)
    verify(portal)
    [email] = smtp_sink.messages
    assert email["Subject"].startswith("[BotWatch] umbrella: the app's paid period has ended (")
    assert "has ended" in smtp_sink.text_of(email)
