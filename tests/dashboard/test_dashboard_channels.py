"""Channels in the dashboard: listed masked on the portal page, edited write-only in the portal form,
failing ones on the Alerts page, and "send a test" (operator role, audited) to a real HTTP receiver."""

import pytest
from django.urls import reverse

from checks.alerts.channel_delivery import deliver_channel
from checks.alerts.channel_urls import fingerprint
from checks.alerts.channels import ensure_portal_channels
from checks.models import AuditLog, Channel, ChannelDelivery, NotifyMode, Portal
from checks.status import Status
from tests.alerts.helpers import T0, make_bot, sweep
from tests.alerts.helpers import make_portal as alert_portal
from tests.dashboard.test_dashboard_manage import portal_post

pytestmark = pytest.mark.django_db
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
SECRETS = ("TIiajkdnlazkcOXrIdevi7FQ", "s3cret-hook-path", "AAHs3cret", "0wner-s3cret-topic")


@pytest.fixture
def portal(settings, webhook_receiver):
    settings.BOTWATCH_NOTIFY_URLS = [SLACK]
    return alert_portal(
        notify=[webhook_receiver.url("s3cret-hook-path")],
        routes={"auth_failed": ["owner@example.com", "ntfys://0wner-s3cret-topic"]},
    )


def page(client, user, name: str, *args) -> str:
    client.force_login(user)
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return response.content.decode()


def test_the_portal_page_lists_every_channel_masked(client, viewer, operator, portal):
    html = page(client, viewer, "dashboard:portal-detail", portal.pk)
    assert "<code>slack://… #" in html and "<code>json://127.0.0.1 #" in html and "<code>ntfys://… #" in html
    assert "(BOTWATCH_NOTIFY_URLS)" in html and "(this portal)" in html and "auth_failed alerts" in html
    for secret in SECRETS:
        assert secret not in html
    assert "Send a test" not in html  # viewers read only
    assert page(client, operator, "dashboard:portal-detail", portal.pk).count(">Send a test<") == 3


def test_an_operator_sends_a_test_and_it_is_audited(client, viewer, operator, portal, webhook_receiver):
    target = {"fingerprint": fingerprint(webhook_receiver.url("s3cret-hook-path")), "portal": portal.pk}
    client.force_login(viewer)
    assert client.post(reverse("dashboard:channel-test"), target).status_code == 403

    client.force_login(operator)
    response = client.post(reverse("dashboard:channel-test"), target, follow=True)
    [post] = webhook_receiver.wait_for(1)
    assert post.body["title"] == "[BotWatch] Test message"
    assert "by otto" in post.body["message"]
    assert "Test message sent to json://127.0.0.1 #" in response.content.decode()
    entry = AuditLog.objects.get(action="send test message")
    assert entry.changes["result"] == "sent" and entry.changes["channel"].startswith("json://127.0.0.1 #")

    webhook_receiver.answer(404)
    html = client.post(reverse("dashboard:channel-test"), target, follow=True).content.decode()
    assert "Test message to json://127.0.0.1 #" in html and "failed" in html and "error=404" in html
    assert AuditLog.objects.filter(action="send test message").latest("pk").changes["result"].startswith("failed")
    for secret in SECRETS:
        assert secret not in html and secret not in str(list(AuditLog.objects.values("changes", "object_repr")))
    unknown = client.post(reverse("dashboard:channel-test"), {"fingerprint": "0" * 64}, follow=True)
    assert "not configured any more" in unknown.content.decode()


def add_channel(client, name: str, url: str, **extra) -> object:
    return client.post(reverse("dashboard:notifications"), {"name": name, "url": url, **extra})


def test_the_form_picks_channels_and_routes_from_the_list(client, dashboard_admin, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    client.force_login(dashboard_admin)
    bad = add_channel(client, "Team Slack", "slack://x0xb-s3cret")
    html = bad.content.decode()
    assert bad.status_code == 400 and "slack://… is not a notification URL Apprise can use" in html
    assert 'type="password"' in html and "x0xb-s3cret" in html  # kept, in a masked input, for the next try
    assert not Channel.objects.exists()
    assert add_channel(client, "Team Slack", SLACK).status_code == 302
    assert add_channel(client, "Team webhook", "json://127.0.0.1:9/s3cret-hook-path").status_code == 302
    assert add_channel(client, "Owner ntfy", "ntfys://0wner-s3cret-topic").status_code == 302
    slack, hook, ntfy = (Channel.objects.get(name=n) for n in ("Team Slack", "Team webhook", "Owner ntfy"))
    listing = page(client, dashboard_admin, "dashboard:notifications")
    assert "Team Slack" in listing and "<code>slack://… #" in listing
    for secret in SECRETS:
        assert secret not in listing

    create = reverse("dashboard:portal-create")
    good = portal_post(
        "https://acme.bitrix24.com",
        action="save",
        notify_channels=[slack.pk, hook.pk],
        notify_mode="replace",
        route_auth_failed_channels=[ntfy.pk],
        route_auth_failed_emails="owner@example.com",
    )
    assert client.post(create, good).status_code == 302
    portal = Portal.objects.get()
    assert portal.notify == [SLACK, "json://127.0.0.1:9/s3cret-hook-path"]
    assert portal.notify_mode == NotifyMode.REPLACE
    assert portal.routes == {"auth_failed": ["owner@example.com", "ntfys://0wner-s3cret-topic"]}
    entry = AuditLog.objects.get(action="add portal")
    assert entry.changes["notify"] == "changed" and entry.changes["routes"] == "changed"

    edit = page(client, dashboard_admin, "dashboard:portal-edit", portal.pk)
    assert "Team Slack" in edit and 'value="owner@example.com"' in edit
    for secret in SECRETS:
        assert secret not in edit

    client.post(
        reverse("dashboard:portal-edit", args=[portal.pk]),
        portal_post("https://acme.bitrix24.com", bot_code="sales_bot", action="save", notify_channels=[hook.pk]),
    )
    portal.refresh_from_db()
    assert portal.notify == ["json://127.0.0.1:9/s3cret-hook-path"] and portal.routes == {}
    assert portal.notify_mode == NotifyMode.REPLACE  # not sent: kept


def test_a_channels_language_is_chosen_in_the_form_and_kept_when_left_out(client, dashboard_admin, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    settings.BOTWATCH_LANGUAGE = "en"
    client.force_login(dashboard_admin)
    assert add_channel(client, "Команда", SLACK, language="ru").status_code == 302
    assert add_channel(client, "Team webhook", "json://127.0.0.1:9/s3cret-hook-path").status_code == 302
    russian, english = Channel.objects.get(name="Команда"), Channel.objects.get(name="Team webhook")
    assert (russian.language, english.language) == ("ru", "en")
    listing = page(client, dashboard_admin, "dashboard:notifications")
    assert "Русский" in listing and 'name="language"' in listing
    client.post(reverse("dashboard:channel-edit", args=[russian.pk]), {"name": "Команда поддержки", "url": ""})
    russian.refresh_from_db()
    assert (russian.name, russian.language) == ("Команда поддержки", "ru")
    bad = add_channel(client, "Deutsch", "ntfys://de-s3cret-topic", language="de")
    assert bad.status_code == 400 and "de is not one of the available choices" in bad.content.decode()


def test_a_channel_edited_or_removed_on_the_notifications_page_changes_every_portal(client, dashboard_admin, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    client.force_login(dashboard_admin)
    old, new = "json://127.0.0.1:9/old-s3cret", "json://127.0.0.1:9/new-s3cret"
    portal = alert_portal(notify=[old], routes={"not_found": [old, "oncall@example.com"]})
    ensure_portal_channels(portal)
    channel = Channel.objects.get()
    assert channel.name == "acme: json://127.0.0.1"
    response = client.post(reverse("dashboard:channel-edit", args=[channel.pk]), {"name": "On-call hook", "url": new})
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.notify == [new] and portal.routes == {"not_found": [new, "oncall@example.com"]}
    assert "s3cret" not in str(AuditLog.objects.get(action="edit channel").changes)

    client.post(reverse("dashboard:channel-delete", args=[channel.pk]))
    portal.refresh_from_db()
    assert portal.notify == [] and portal.routes == {"not_found": ["oncall@example.com"]}
    assert not Channel.objects.exists()


def test_the_alerts_page_shows_failing_channels_until_they_recover(
    client, viewer, operator, portal, webhook_receiver, settings
):
    settings.BOTWATCH_NOTIFY_URLS = []
    webhook_receiver.stop()
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)
    html = page(client, viewer, "dashboard:alerts")
    assert 'id="failing-channels"' in html
    assert "<code>json://127.0.0.1 #" in html and "1 being retried" in html and "Connection error" in html
    # Plain words first, what the library said under "Technical detail".
    assert "BotWatch could not connect to the service" in html and "Check the host name in the address" in html
    assert html.index("could not connect") < html.index("Technical detail") < html.index("Connection error")
    assert ">Send a test<" not in html
    for secret in SECRETS:
        assert secret not in html
    assert page(client, operator, "dashboard:alerts").count(">Send a test<") >= 1

    webhook_receiver.start()
    webhook_receiver.answer(404)
    row = ChannelDelivery.objects.get(label__startswith="json://")
    assert deliver_channel(row.pk) == "failed"  # the lease is free: a retry sweep's attempt
    html = page(client, viewer, "dashboard:alerts")
    assert "1 failed for good" in html and "error=404" in html and "being retried" not in html
    assert "The address no longer exists at the service" in html and "could not connect" not in html
    assert ChannelDelivery.objects.get(pk=row.pk).reason == "gone"

    webhook_receiver.answer(200)  # fixed: the next alert goes through, and the channel is fine again
    sweep([make_bot(portal, "sales_bot")], Status.NOT_FOUND, T0)
    assert ChannelDelivery.objects.filter(state="sent").count() == 1
    html = page(client, viewer, "dashboard:alerts")
    assert 'id="failing-channels"' not in html


def test_an_alias_bomb_in_a_bots_expectations_is_refused(client, dashboard_admin):
    from checks.portal_file.bounded import LimitError, load_yaml
    from dashboard.bot_forms import BotForm

    bomb = (
        "{a: &a [x, x, x, x, x, x, x, x, x, x], "
        + ", ".join(f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]" for p, n in zip("abcdef", "bcdefg", strict=True))
        + ", eventMode: *g}"
    )
    with pytest.raises(LimitError):
        load_yaml(bomb)
    form = BotForm(data={"code": "support_bot", "expect_text": bomb})
    form.is_valid()
    assert "expands to more than 200,000 values" in str(form.errors.get("expect_text"))


def test_viewers_read_the_notifications_page_and_only_admins_change_it(client, viewer, operator, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    channel = Channel.objects.create(name="Team", url=SLACK, fingerprint=fingerprint(SLACK))
    html = page(client, viewer, "dashboard:notifications")
    assert "Team" in html and "slack://… #" in html and SECRETS[0] not in html
    assert "Add a channel" not in html and "Send a test" not in html
    for user in (viewer, operator):
        client.force_login(user)
        assert client.post(reverse("dashboard:notifications"), {"name": "x", "url": SLACK}).status_code == 403
        assert client.get(reverse("dashboard:channel-edit", args=[channel.pk])).status_code == 403
        assert client.post(reverse("dashboard:channel-delete", args=[channel.pk])).status_code == 403
    assert "Send a test" in page(client, operator, "dashboard:notifications")
    assert Channel.objects.get().name == "Team"
