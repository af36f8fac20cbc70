"""Portal health on the dashboard: portal rows with the portal's status, worst first sorting
portals as well as bots, "3 portals down (41 bots)", and the portal page's health: status, problems, the
plan and the app's paid period."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from checks.models import Incident, Portal
from checks.status import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def group_rows(body: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in body.split('<tr class="group" data-portal="')[1:]]


def test_portal_rows_show_the_portals_status(viewer_client, fleet):
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert group_rows(body) == ["acme", "globex", "hooli", "initech"]
    assert 'data-portal="acme" data-portal-status="unreachable"' in body
    row = body.split('data-portal="initech"')[1].split("</tr>")[0]
    assert "Authorization failed" in row and "NO_AUTH_FOUND" in row and "its bots are not verified" in row


def test_worst_first_sorts_portals_as_well_as_bots(viewer_client, fleet):
    body = viewer_client.get(reverse("dashboard:overview"), {"sort": "status"}).content.decode()
    # One severity order for portals and bots (docs/statuses.md): the portal of the missing bot first,
    # then the portal whose credentials fail, then the unreachable one, then the rest.
    assert group_rows(body) == ["globex", "initech", "acme", "hooli"]
    Portal.objects.filter(name="acme").update(status=Status.RATE_LIMITED)
    body = viewer_client.get(reverse("dashboard:overview"), {"sort": "status"}).content.decode()
    assert group_rows(body)[:2] == ["globex", "initech"]  # a busy portal stays below a bot that is gone
    globex = body.split('data-portal="globex"')[1].split('<tr class="group"')[0]
    assert globex.index('data-bot="globex/bot_1"') < globex.index('data-bot="globex/bot_0"')


def test_the_counts_say_how_many_portals_are_down_and_their_bots(viewer_client, fleet):
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    # Failing, but no portal incident yet (under the alert threshold): not "down" as the Alerts page counts.
    assert "data-portals-down" not in body and 'data-portals-failing="2"' in body
    for name in ("acme", "initech"):
        portal = Portal.objects.get(name=name)
        Incident.objects.create(kind="portal", portal=portal, status=portal.status, last_status=portal.status)
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    title = 'title="2 portals down with an open alert (4 bots): their bots are not verified'
    assert 'data-portals-down="2" ' + title in body
    down = viewer_client.get(reverse("dashboard:overview"), {"status": "portal_down"}).content.decode()
    assert group_rows(down) == ["acme", "initech"]
    Portal.objects.filter(name="initech").update(status=Status.OK)
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert 'title="1 portal down with an open alert (3 bots)' in body
    Portal.objects.filter(name="acme").update(status=Status.RATE_LIMITED)  # busy, not down
    assert "data-portals-down" not in viewer_client.get(reverse("dashboard:overview")).content.decode()
    Portal.objects.filter(name="acme").update(status=Status.UNREACHABLE)
    Portal.objects.filter(name="acme").update(paused=True)  # not checked: not counted as down
    assert "data-portals-down" not in viewer_client.get(reverse("dashboard:overview")).content.decode()
    Portal.objects.filter(name="acme").update(paused=False, status=Status.DEGRADED)  # its bots are still verified
    assert "data-portals-down" not in viewer_client.get(reverse("dashboard:overview")).content.decode()


def test_the_portal_page_shows_its_health_plan_and_paid_period(viewer_client, fleet, django_clock):
    # The page counts the days left from its own today: one fixed day for both, whatever the hour.
    today = django_clock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC)).date()
    Portal.objects.filter(name="acme").update(
        auth_type="oauth", plan="de_ent250", app_status="P", app_installed=False,
        app_paid_until=today + timedelta(days=5), last_error_description="connection refused",
        problems=[{"check": "app_installed", "detail": "app.info INSTALLED is false", "key": "app_installed"}],
    )  # fmt: skip
    body = viewer_client.get(reverse("dashboard:portal-detail", args=[fleet["acme"].pk])).content.decode()
    health = body.split('id="portal-health"')[1].split("</section>")[0]
    assert "Unreachable" in health and "not verified one by one" in health
    assert "<dd data-plan>de_ent250</dd>" in health
    assert "installation not finished" in health and "5 days left" in health
    assert "app_installed" in health and "connection refused" in health
