"""Words for support staff, not engineers: status names, a degraded bot's problems, form errors."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from checks.models import Portal
from checks.status import Status, status_text
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db


def test_statuses_read_as_what_happened():
    assert status_text(Status.NOT_OWNER) == "Token rotated or wrong bot token"
    problems = [{"check": "event_backlog"}, {"check": "drift"}, {"check": "event_backlog"}]
    assert status_text(Status.DEGRADED, problems) == "Degraded: event backlog, settings changed"
    assert status_text(Status.DEGRADED) == "Degraded"
    assert status_text(Status.UNREACHABLE, problems) == "Unreachable"


def test_a_portal_name_with_spaces_is_refused_in_plain_words():
    with pytest.raises(ValidationError) as caught:
        Portal(name="acme corp", url="https://acme.example.com").full_clean()
    [message] = caught.value.message_dict["name"]
    assert "slug" not in message and "letters, digits, '-' and '_'" in message


def test_a_maintenance_window_error_names_the_field_as_the_form_does(client, operator):
    portal = make_portal("acme", n_bots=0)
    client.force_login(operator)
    body = client.post(
        reverse("dashboard:maintenance-create", args=[portal.pk]),
        {"repeat": "weekly", "start_time": "02:00", "end_time": "04:00", "timezone": "Mars/Olympus"},
        follow=True,
    ).content.decode()
    message = body.split("Maintenance window not saved:", 1)[1].split("</div>", 1)[0]
    assert "Pick at least one day of the week" in message and "Mars/Olympus" in message
    assert "weekdays" not in message and "timezone:" not in message
