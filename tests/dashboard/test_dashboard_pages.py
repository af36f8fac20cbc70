"""Every dashboard page renders for a viewer, with its data and without leaking secrets."""

from datetime import timedelta
from functools import partial

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import Bot, Notification, Portal
from tests.fixtures.dashboard import PASSWORD

pytestmark = pytest.mark.django_db

SECRETS = ["s3cret-code-XYZ", "s3cret-token-0", "s3cret-token-1"]


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def admin_client(client, dashboard_admin):
    client.force_login(dashboard_admin)
    return client


def assert_no_secrets(body: str) -> None:
    for secret in SECRETS:
        assert secret not in body


def test_overview_lists_bots_with_status_text_and_heartbeats(viewer_client, portal_with_history):
    response = viewer_client.get(reverse("dashboard:overview"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "bot_0" in body and "bot_1" in body
    assert "Bot not found" in body  # status as text, not only colour
    assert body.count('class="beat b-ok"') >= 30
    assert "Open incidents" in body
    assert_no_secrets(body)


def test_overview_names_portals_without_bots(viewer_client, portal_with_history):
    from tests.fixtures.dashboard import make_portal

    make_portal("initech", n_bots=0)
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'id="empty-portals"' in body and "initech" in body


def test_overview_counter_change_over_24h(viewer_client, portal_with_history):
    # 40 checks every 5 min span 200 min: nothing is 24 h old, so no delta is shown.
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert "change in 24 h" not in body


def test_overview_filters_by_status_and_search(viewer_client, portal_with_history):
    body = viewer_client.get(reverse("dashboard:overview"), {"status": "not_found"}).content.decode()
    assert 'data-bot="acme/bot_1"' in body and 'data-bot="acme/bot_0"' not in body
    body = viewer_client.get(reverse("dashboard:overview"), {"q": "bot_0"}).content.decode()
    assert 'data-bot="acme/bot_0"' in body and 'data-bot="acme/bot_1"' not in body
    body = viewer_client.get(reverse("dashboard:overview"), {"q": "nope"}).content.decode()
    assert "No bot matches these filters" in body


def test_overview_htmx_returns_the_live_fragment(viewer_client, portal_with_history):
    response = viewer_client.get(reverse("dashboard:overview"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="live"') or 'id="live"' in body.split("\n", 3)[1]
    assert "<html" not in body


def test_overview_empty_state_tells_admin_what_to_do(admin_client):
    body = admin_client.get(reverse("dashboard:overview")).content.decode()
    assert "No bots are watched yet" in body and reverse("dashboard:portal-create") in body


def test_checks_not_running_banner(viewer_client, portal_with_history):
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert "Checks are not running" in body


def test_no_banner_when_beat_and_worker_report(viewer_client, portal_with_history):
    from checks.models import Heartbeat

    Heartbeat.objects.create(name="beat")
    Heartbeat.objects.create(name="worker:host1")
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert "Checks are not running" not in body


def test_portal_page_masks_credentials(viewer_client, portal_with_history):
    body = viewer_client.get(reverse("dashboard:portal-detail", args=[portal_with_history.pk])).content.decode()
    assert "set (hidden)" in body
    assert "Pacing budget" in body
    assert_no_secrets(body)


def test_bot_page_shows_fields_uptime_chart_and_history(viewer_client, portal_with_history):
    bot = Bot.objects.get(code="bot_1")
    response = viewer_client.get(reverse("dashboard:bot-detail", args=[bot.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("eventMode", "isSupportOpenline", "moduleId", "backgroundId"):
        assert name in body
    assert "Support Bot" in body  # users
    assert response.context["chart"]["x"] and len(response.context["chart"]["countMessage"]) == 40
    assert response.context["uptime"][0][1] == pytest.approx(38 / 40)
    assert "40 verifications" in body
    assert_no_secrets(body)


def test_bot_page_long_range_uses_daily_aggregates(viewer_client, portal_with_history):
    bot = Bot.objects.get(code="bot_1")
    response = viewer_client.get(reverse("dashboard:bot-detail", args=[bot.pk]), {"range": "30d"})
    assert response.context["chart"]["source"] == "daily aggregates"
    assert response.context["chart"]["countMessage"] == [90]


def test_bot_history_filter_and_csv(viewer_client, portal_with_history):
    bot = Bot.objects.get(code="bot_1")
    response = viewer_client.get(reverse("dashboard:bot-detail", args=[bot.pk]), {"status": "failed"})
    assert response.context["page"].paginator.count == 2
    csv_response = viewer_client.get(reverse("dashboard:bot-history-csv", args=[bot.pk]), {"status": "failed"})
    lines = b"".join(csv_response.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("portal,bot,checked_at,status")
    assert len(lines) == 3 and all(",not_found,BOT_NOT_FOUND," in line for line in lines[1:])


def test_alerts_page_tabs(viewer_client, portal_with_history):
    body = viewer_client.get(reverse("dashboard:alerts")).content.decode()
    assert "Open (1)" in body and "bot_1" in body
    body = viewer_client.get(reverse("dashboard:alerts"), {"state": "resolved"}).content.decode()
    assert "No resolved incidents yet" in body


def test_alerts_page_says_when_alert_emails_are_not_delivered(viewer_client, portal_with_history):
    url = reverse("dashboard:alerts")
    assert 'id="email-banner"' not in viewer_client.get(url).content.decode()
    now = timezone.now()
    make = partial(Notification.objects.create, portal=portal_with_history, kind="opened", subject="s")
    make(key="sent", state=Notification.State.SENT, attempts=1)
    make(key="old", state=Notification.State.FAILED, attempts=1, error="old", created_at=now - timedelta(days=8))
    assert 'id="email-banner"' not in viewer_client.get(url).content.decode()
    make(key="refused", state=Notification.State.FAILED, attempts=1, error="every recipient was refused: a@b (550)")
    make(key="waiting", attempts=2, error="no recipients: set the portal's alert emails or BOTWATCH_ALERT_EMAILS")
    body = viewer_client.get(url).content.decode()
    assert "1 still being retried, 1 failed for good in the last 7 days" in body
    assert "no recipients: set the portal&#x27;s alert emails or BOTWATCH_ALERT_EMAILS" in body


def test_login_page_and_password_change(client, viewer):
    response = client.post(reverse("login"), {"username": "vera", "password": PASSWORD})
    assert response.status_code == 302
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "another-long-pass-42", "new_password2": "another-long-pass-42"},
    )
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password("another-long-pass-42")


def test_admin_pages_render(admin_client, portal_with_history):
    for name, args in [
        ("dashboard:portal-list", []),
        ("dashboard:portal-create", []),
        ("dashboard:portal-edit", [portal_with_history.pk]),
        ("dashboard:portal-delete", [portal_with_history.pk]),
        ("dashboard:portal-file", []),
        ("dashboard:audit-log", []),
        ("dashboard:user-list", []),
    ]:
        response = admin_client.get(reverse(name, args=args))
        assert response.status_code == 200, name
        assert_no_secrets(response.content.decode())


def test_portal_list_counts_bots_problems_and_incidents(viewer_client, portal_with_history):
    from checks.models import Incident

    Incident.objects.create(
        bot=portal_with_history.bots.first(),
        portal=portal_with_history,
        state="resolved",
        status="unreachable",
        last_status="unreachable",
    )
    response = viewer_client.get(reverse("dashboard:portal-list"))
    portal = response.context["portals"][0]
    assert (portal.n_bots, portal.n_problems, portal.n_open) == (2, 1, 1)


def test_bot_page_shows_what_the_engine_recorded_from_the_simulator(viewer_client, simulator):
    from checks.engine.verify import verify_portal
    from checks.models import Portal

    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="support_bot", bot_token="tok-1", language="de", event_mode="webhook")
    portal = Portal.objects.create(name="acme", url=simulator.portal_url("acme"), webhook_user_id=1, webhook_code="k3y")
    bot = Bot.objects.create(portal=portal, code="support_bot", bot_token="tok-1")
    verify_portal(portal.pk, manual=True, inline_alerts=True)
    response = viewer_client.get(reverse("dashboard:bot-detail", args=[bot.pk]))
    fields = dict(response.context["bot_fields"])
    assert fields["language"] == "de" and fields["eventMode"] == "webhook" and fields["type"] == "bot"
    assert response.context["chart"]["countMessage"] and response.context["uptime"][0][1] == 1.0
    assert "tok-1" not in response.content.decode() and "k3y" not in response.content.decode()


def test_overview_names_the_portals_that_have_no_bots_yet(viewer_client, portal_with_history):
    Portal.objects.create(name="zeta-empty", url="https://zeta.example", webhook_user_id=1, webhook_code="k")
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    empty = body.split('id="empty-portals"', 1)[1].split("</p>", 1)[0]
    assert "zeta-empty" in empty and "acme" not in empty
