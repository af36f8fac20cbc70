"""/api/v1/incidents: filters, read, acknowledge through checks.alerts.actions."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from checks.models import AuditLog, Incident, IncidentEvent
from checks.status import Status
from dashboard.roles import Role, set_role
from tests.fixtures.api import call, issue
from tests.fixtures.dashboard import make_portal, open_incident

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


@pytest.fixture
def incidents() -> dict[str, Incident]:
    acme, globex = make_portal("acme", n_bots=2), make_portal("globex", n_bots=1)
    gone = open_incident(acme.bots.get(code="bot_0"))
    slow = open_incident(acme.bots.get(code="bot_1"), status=Status.UNREACHABLE)
    old = open_incident(globex.bots.get())
    Incident.objects.filter(pk=old.pk).update(state=Incident.State.RESOLVED, resolved_at=timezone.now())
    return {"gone": gone, "slow": slow, "old": old}


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"gone", "slow", "old"}),
        ({"state": "open"}, {"gone", "slow"}),
        ({"state": "resolved"}, {"old"}),
        ({"portal": "acme"}, {"gone", "slow"}),
        ({"portal": "acme", "bot": "bot_1"}, {"slow"}),
        ({"status": "unreachable"}, {"slow"}),
        ({"acknowledged": "false", "state": "open"}, {"gone", "slow"}),
        ({"acknowledged": "true"}, set()),
    ],
)
def test_incidents_are_filtered(client, read_token, incidents, query, expected):
    response = call(client, "get", "/api/v1/incidents", read_token, **query)
    assert ids(response) == {incidents[name].pk for name in expected}


@pytest.mark.parametrize(
    ("query", "field"),
    [({"state": "closed"}, "state"), ({"bot": "bot_0"}, "bot"), ({"acknowledged": "maybe"}, "acknowledged")],
)
def test_a_bad_incident_filter_is_400_naming_the_field(client, read_token, query, field):
    response = call(client, "get", "/api/v1/incidents", read_token, **query)
    assert response.status_code == 400 and list(response.json()) == [field]


def test_an_incident_is_read_with_its_bot_and_portal(client, read_token, incidents):
    body = call(client, "get", f"/api/v1/incidents/{incidents['gone'].pk}", read_token).json()
    assert (body["portal"], body["bot"], body["state"], body["status"]) == ("acme", "bot_0", "open", "not_found")
    assert body["error"] == "BOT_NOT_FOUND" and body["acknowledged_at"] is None
    assert body["bot_url"] == "/api/v1/portals/acme/bots/bot_0"


def test_acknowledging_stops_reminders_records_who_and_is_audited(client, incidents):
    admin = get_user_model().objects.create_user("ada", "ada@example.com", "pw-12345678")
    set_role(admin, Role.ADMIN)
    token = issue("write", "pager", user=admin)
    path = f"/api/v1/incidents/{incidents['gone'].pk}/acknowledge"
    response = call(client, "post", path, token, {"note": "restarting the app"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["acknowledged_at"] is not None and body["acknowledged_by"] == "ada"
    assert body["ack_note"] == "restarting the app"
    event = IncidentEvent.objects.get(incident=incidents["gone"], kind=IncidentEvent.Kind.ACKNOWLEDGED)
    assert (event.user, event.note) == (admin, "restarting the app")
    log = AuditLog.objects.get(action="acknowledge")
    assert (log.actor, log.user) == ("API token pager", admin)
    again = call(client, "post", path, token, {})
    assert again.status_code == 409
    assert IncidentEvent.objects.filter(kind=IncidentEvent.Kind.ACKNOWLEDGED).count() == 1


def test_a_resolved_incident_cannot_be_acknowledged(client, write_token, incidents):
    response = call(client, "post", f"/api/v1/incidents/{incidents['old'].pk}/acknowledge", write_token, {})
    assert response.status_code == 409 and response.json()["state"] == "resolved"


def test_a_note_over_2000_characters_is_400(client, write_token, incidents):
    path = f"/api/v1/incidents/{incidents['gone'].pk}/acknowledge"
    response = call(client, "post", path, write_token, {"note": "x" * 2001})
    assert response.status_code == 400
    assert response.json() == {"note": ["Ensure this field has no more than 2000 characters."]}
    assert Incident.objects.get(pk=incidents["gone"].pk).acknowledged_at is None


def test_an_unknown_incident_is_404(client, write_token):
    assert call(client, "get", "/api/v1/incidents/999", write_token).status_code == 404
    assert call(client, "post", "/api/v1/incidents/999/acknowledge", write_token, {}).status_code == 404


@pytest.fixture
def wider() -> dict[str, Incident]:
    """A whole portal's incident and a wave with one part: incidents without a bot, or without a portal."""
    acme, globex = make_portal("acme", n_bots=1), make_portal("globex", n_bots=1)
    down = Incident.objects.create(
        kind=Incident.Kind.PORTAL, portal=acme, status=Status.UNREACHABLE, last_status=Status.UNREACHABLE
    )
    wave = Incident.objects.create(
        kind=Incident.Kind.WAVE, wave_code="bot_0", status=Status.NOT_FOUND, last_status=Status.NOT_FOUND
    )
    part = open_incident(globex.bots.get())
    Incident.objects.filter(pk=part.pk).update(wave=wave)
    return {"down": down, "wave": wave, "part": part}


def test_portal_incidents_and_waves_are_listed_and_read(client, read_token, wider):
    rows = {row["id"]: row for row in call(client, "get", "/api/v1/incidents", read_token).json()["results"]}
    down, wave, part = rows[wider["down"].pk], rows[wider["wave"].pk], rows[wider["part"].pk]
    assert (down["kind"], down["portal"], down["bot"], down["bot_url"]) == ("portal", "acme", None, None)
    assert (wave["kind"], wave["portal"], wave["bot"], wave["bot_url"]) == ("wave", None, "bot_0", None)
    assert (part["kind"], part["wave"], part["bot_url"]) == (
        "bot",
        wider["wave"].pk,
        "/api/v1/portals/globex/bots/bot_0",
    )
    for incident in wider.values():
        response = call(client, "get", f"/api/v1/incidents/{incident.pk}", read_token)
        assert response.status_code == 200 and response.json() == rows[incident.pk]


@pytest.mark.parametrize(("name", "subject"), [("down", "portal acme"), ("wave", "wave of bot_0")])
def test_acknowledging_a_portal_incident_or_a_wave_answers_and_is_audited(client, write_token, wider, name, subject):
    incident = wider[name]
    response = call(client, "post", f"/api/v1/incidents/{incident.pk}/acknowledge", write_token, {"note": "on it"})
    assert response.status_code == 200, response.content
    assert response.json()["ack_note"] == "on it"
    log = AuditLog.objects.get(action="acknowledge")
    assert log.object_repr == f"incident #{incident.pk}: {subject}"
