"""The Alerts page for a fleet: worst first, filters, search, grouping, bulk actions, quiet incidents
apart, guidance beside each status, and a bounded number of queries at 50 portals."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import AuditLog, Bot, Incident, MaintenanceWindow
from checks.status import Status
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db
STATUSES = [Status.RATE_LIMITED, Status.NOT_FOUND, Status.UNREACHABLE, Status.DEGRADED, Status.NOT_OWNER]


def fleet(n_portals: int, per_portal: int) -> list[Incident]:
    """n portals of customers "Customer <i // 2>", tagged by parity, with `per_portal` open bot incidents each."""
    now = timezone.now()
    incidents = []
    for i in range(n_portals):
        portal = make_portal(
            f"portal-{i:02d}",
            n_bots=per_portal,
            url=f"https://p{i}.example.com",
            customer_name=f"Customer {i // 2}",
            tags=["premium" if i % 2 else "basic"],
        )
        for j, bot in enumerate(Bot.objects.filter(portal=portal).order_by("code")):
            status = STATUSES[(i + j) % len(STATUSES)]
            incidents.append(
                Incident(
                    kind="bot",
                    bot=bot,
                    portal=portal,
                    status=status,
                    last_status=status,
                    error_code="BOT_NOT_FOUND" if status == Status.NOT_FOUND else "",
                    http_status=200,
                    started_at=now - timedelta(minutes=i * per_portal + j),
                )
            )
    return Incident.objects.bulk_create(incidents)


def cards(body: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in body.split('data-incident="')[1:]]


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def test_worst_status_first_then_the_oldest(operator_client):
    incidents = fleet(5, 1)  # rate_limited (oldest), not_found, unreachable, degraded, not_owner (newest)
    body = operator_client.get(reverse("dashboard:alerts")).content.decode()
    by_pk = {str(i.pk): i.last_status for i in incidents}
    assert [by_pk[pk] for pk in cards(body)] == ["not_found", "not_owner", "degraded", "unreachable", "rate_limited"]


def test_filters_and_search_find_portals_customers_tags_and_bots(operator_client):
    fleet(20, 2)
    url = reverse("dashboard:alerts")
    assert len(cards(operator_client.get(url, {"customer": "Customer 3"}).content.decode())) == 4
    assert len(cards(operator_client.get(url, {"q": "customer 3"}).content.decode())) == 4
    assert len(cards(operator_client.get(url, {"tag": "premium"}).content.decode())) == 20
    assert len(cards(operator_client.get(url, {"q": "premium"}).content.decode())) == 20
    assert len(cards(operator_client.get(url, {"portal": "portal-07"}).content.decode())) == 2
    assert len(cards(operator_client.get(url, {"status": "not_found"}).content.decode())) == 8
    grouped = operator_client.get(url, {"group": "portal", "tag": "basic"}).content.decode()
    assert grouped.count('class="group-head"') == 10


def test_bulk_acknowledge_across_portals_is_audited(operator_client):
    incidents = fleet(20, 3)[:50]
    response = operator_client.post(
        reverse("dashboard:alerts-bulk"),
        {"action": "acknowledge", "note": "on it", "ids": [i.pk for i in incidents]},
    )
    assert response.status_code == 302
    assert Incident.objects.filter(acknowledged_at__isnull=False, ack_note="on it").count() == 50
    assert AuditLog.objects.filter(action="acknowledge").count() == 50
    assert operator_client.get(reverse("dashboard:alerts-bulk")).status_code == 405


def test_bulk_mute_and_maintenance_put_incidents_apart(operator_client):
    a, b, c = fleet(3, 1)
    url = reverse("dashboard:alerts-bulk")
    operator_client.post(url, {"action": "mute:4h", "ids": [a.pk]})
    operator_client.post(url, {"action": "maintenance:1h", "ids": [b.pk]})
    assert MaintenanceWindow.objects.get().portal_id == b.portal_id
    body = operator_client.get(reverse("dashboard:alerts")).content.decode()
    live, quiet = body.split('id="quiet-incidents"')
    assert cards(live) == [str(c.pk)] and sorted(cards(quiet)) == sorted([str(a.pk), str(b.pk)])
    assert "Muted: no alerts" in quiet and "In maintenance: no alerts" in quiet
    only_live = operator_client.get(reverse("dashboard:alerts"), {"muted": "live"}).content.decode()
    assert cards(only_live) == [str(c.pk)]
    assert {"mute", "maintenance window"} <= set(AuditLog.objects.values_list("action", flat=True))


def test_a_card_says_what_to_do_and_never_starts_with_http_200(operator_client):
    fleet(2, 1)  # rate_limited without a code, not_found with BOT_NOT_FOUND
    body = operator_client.get(reverse("dashboard:alerts")).content.decode()
    assert "· HTTP 200" not in body and "HTTP 200" not in body
    assert "Probable causes" in body and "What to do" in body
    assert "The application that registered the bot was uninstalled" in body  # the email's guidance, word for word


def test_the_alerts_page_queries_stay_bounded_at_fifty_portals(operator_client, django_assert_max_num_queries):
    fleet(50, 4)
    MaintenanceWindow.objects.create(portal=None, weekdays=list(range(7)), start_time="00:00", end_time="23:59")
    for params in ({}, {"group": "portal"}, {"q": "customer", "muted": "quiet"}, {"tag": "premium"}):
        with django_assert_max_num_queries(17):  # the same at 5 portals: none per incident or portal
            assert operator_client.get(reverse("dashboard:alerts"), params).status_code == 200
