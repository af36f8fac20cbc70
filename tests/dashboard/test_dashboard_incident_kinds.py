"""Incidents beyond one bot on the dashboard: a whole portal's and fleet waves with their portals,
on the Alerts page and among the overview's open incidents; acknowledging a portal's incident."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import Bot, Incident, IncidentEvent
from checks.status import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def test_portal_incidents_and_waves_on_the_alerts_page_and_the_overview(viewer_client, fleet):
    now = timezone.now()
    down = Incident.objects.create(
        kind="portal", portal=fleet["acme"], status=Status.UNREACHABLE, last_status=Status.UNREACHABLE,
        error_description="connection refused", started_at=now,
    )  # fmt: skip
    wave = Incident.objects.create(
        kind="wave", wave_code="bot_1", status=Status.NOT_FOUND, last_status=Status.NOT_FOUND, started_at=now
    )
    for name in ("globex", "hooli", "initech"):
        bot = Bot.objects.get(portal=fleet[name], code="bot_0" if name != "globex" else "bot_1")
        part = Incident.objects.create(
            bot=bot, portal=fleet[name], status=Status.NOT_FOUND, last_status=Status.NOT_FOUND,
            error_code="BOT_NOT_FOUND", wave=wave, started_at=now - timedelta(minutes=3),
        )  # fmt: skip
        IncidentEvent.objects.create(incident=wave, kind="joined", portal=fleet[name], note=f"{bot.label} on {name}")
    Incident.objects.filter(portal=fleet["hooli"], wave=wave).update(state="resolved", resolved_at=now)
    assert part.wave == wave

    body = viewer_client.get(reverse("dashboard:alerts")).content.decode()
    assert f'data-incident="{down.pk}" data-kind="portal"' in body and "3 bots not verified" in body
    card = body.split(f'data-incident="{wave.pk}" data-kind="wave"')[1].split("</article>")[0]
    assert "Fleet wave of <code>bot_1</code>" in card and "3 portals" in card
    assert [c.split('"')[0] for c in card.split('data-wave-part="')[1:]] == ["globex", "hooli", "initech"]
    assert 'data-wave-part="hooli" data-state="resolved"' in card
    assert "Portal joined · globex" in card  # the timeline names the portals
    assert body.count("data-incident=") == 2  # the wave's parts are inside it, not cards of their own

    overview = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-kind="portal"' in overview and "whole portal" in overview
    assert 'data-kind="wave"' in overview and "3 portals" in overview


def test_acknowledging_a_portal_incident(client, operator, fleet):
    client.force_login(operator)
    incident = Incident.objects.create(
        kind="portal", portal=fleet["acme"], status=Status.UNREACHABLE, last_status=Status.UNREACHABLE
    )
    response = client.post(reverse("dashboard:incident-ack", args=[incident.pk]), {"note": "on it"}, follow=True)
    assert "Incident of portal acme acknowledged." in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
