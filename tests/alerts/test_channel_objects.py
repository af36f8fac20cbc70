"""Channels as named objects: BOTWATCH_NOTIFY_URLS seeds the defaults at migrate (idempotent, and
never undoing a change made on the Notifications page), the portal file's URLs become channels,
and a delivery names the channel it went to."""

import pytest
from django.core.management import call_command

from checks.alerts.channel_urls import fingerprint
from checks.alerts.channels import default_channels, seed_channels, targets_for
from checks.models import Channel, ChannelDelivery
from checks.portal_file.load import import_portal_file
from checks.status import Status
from tests.alerts.helpers import T0, make_bot, make_portal, sweep

pytestmark = pytest.mark.django_db
TEAM, ONCALL = "json://127.0.0.1:9/team-s3cret", "json://127.0.0.1:9/oncall-s3cret"


def test_the_variable_counts_before_it_is_seeded(settings):
    settings.BOTWATCH_NOTIFY_URLS = [TEAM]
    assert not Channel.objects.exists()
    assert default_channels() == [TEAM]


def test_migrate_seeds_default_channels_once_and_keeps_page_changes(settings):
    settings.BOTWATCH_NOTIFY_URLS = [TEAM, ONCALL]
    call_command("migrate", verbosity=0)
    rows = list(Channel.objects.order_by("pk"))
    assert [(c.name, c.url, c.is_default, c.from_settings) for c in rows] == [
        ("Default: json://127.0.0.1", TEAM, True, True),
        ("Default: json://127.0.0.1 (2)", ONCALL, True, True),
    ]
    # Changed on the Notifications page:
    Channel.objects.filter(fingerprint=fingerprint(ONCALL)).update(is_default=False, name="On-call")
    assert seed_channels() == []
    assert Channel.objects.count() == 2 and Channel.objects.get(name="On-call").is_default is False
    assert default_channels() == [TEAM]


def test_seeding_names_the_channels_portals_stored_before(settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    make_portal("acme", notify=[TEAM], routes={"not_found": [ONCALL, "oncall@example.com"]})
    seed_channels()
    assert sorted(Channel.objects.values_list("name", "is_default")) == [
        ("acme: json://127.0.0.1", False),
        ("acme: json://127.0.0.1 (2)", False),
    ]


def test_the_portal_files_channel_urls_become_channels(settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    import_portal_file(
        f"portals: [{{name: acme, url: https://acme.bitrix24.com, webhook: {{user_id: 1, code: k3y}}, "
        f"notify: ['{TEAM}'], routes: {{auth_failed: [owner@example.com, '{ONCALL}']}}}}]"
    )
    assert set(Channel.objects.values_list("url", flat=True)) == {TEAM, ONCALL}
    import_portal_file(  # again: nothing new
        f"portals: [{{name: acme, url: https://acme.bitrix24.com, webhook: {{user_id: 1}}, notify: ['{TEAM}']}}]"
    )
    assert Channel.objects.count() == 2


def test_a_delivery_names_its_channel_once_however_often_it_is_listed(settings, webhook_receiver):
    url = webhook_receiver.url("team-s3cret")
    settings.BOTWATCH_NOTIFY_URLS = []
    channel = Channel.objects.create(name="Team", url=url, fingerprint=fingerprint(url), is_default=True)
    portal = make_portal(notify=[url])  # a default and the portal's own: one message
    assert targets_for(portal).channels == [url]
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)
    webhook_receiver.wait_for(1)
    delivery = ChannelDelivery.objects.get()
    assert (delivery.channel, delivery.state) == (channel, "sent")
