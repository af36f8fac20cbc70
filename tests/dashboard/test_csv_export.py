"""CSV exports: a cell a spreadsheet would run as a formula is neutralised, and the file name is a safe slug."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import Bot, Verification
from checks.status import Status
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db

# What portals (error descriptions) and admins (bot codes) can put in a cell.
FORMULAS = ['=HYPERLINK("http://x.example/")', "\t=1+1", "-2+3", "@SUM(A1)", "+1", "\r=1", "=cmd|' /C calc'!A0"]


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def export(client, bot: Bot) -> tuple[object, list[list[str]]]:
    response = client.get(reverse("dashboard:bot-history-csv", args=[bot.pk]))
    text = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(text)))


def verification(bot: Bot, description: str, minutes_ago: int) -> None:
    at = timezone.now() - timezone.timedelta(minutes=minutes_ago)
    Verification.objects.create(
        bot=bot,
        portal_id=bot.portal_id,
        slot=at,
        checked_at=at,
        status=Status.ERROR,
        error_code="SOME_ERROR",
        error_description=description,
        http_status=500,
        duration_ms=120,
        count_message=-5 if minutes_ago == 1 else 7,
    )


def test_cells_that_start_a_formula_are_neutralised(viewer_client):
    portal = make_portal("acme", n_bots=0)
    bot = Bot.objects.create(portal=portal, code="=1+2", bot_token="t")
    for minutes_ago, description in enumerate(FORMULAS, start=1):
        verification(bot, description, minutes_ago)

    response, rows = export(viewer_client, bot)

    assert response.status_code == 200
    header, *lines = rows
    assert header[:3] == ["portal", "bot", "checked_at"]
    descriptions = [line[header.index("error_description")] for line in lines]
    assert sorted(descriptions) == sorted("'" + f for f in FORMULAS)
    assert {line[1] for line in lines} == {"'=1+2"}
    # Numbers are numbers, a negative one included: only text is a formula.
    assert {line[header.index("http_status")] for line in lines} == {"500"}
    assert {line[header.index("count_message")] for line in lines} == {"-5", "7"}
    assert {line[header.index("status")] for line in lines} == {"error"}


def test_download_name_is_a_slug_whatever_the_bot_code(viewer_client):
    portal = make_portal("acme", n_bots=0)
    bot = Bot.objects.create(portal=portal, code='x";\r\nSet-Cookie: a=b', bot_token="t")

    response, _ = export(viewer_client, bot)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="acme-x-set-cookie-ab-history.csv"'
    assert "Set-Cookie" not in response.headers


def test_bot_known_by_id_only_gets_a_name_too(viewer_client):
    portal = make_portal("acme", n_bots=0)
    bot = Bot.objects.create(portal=portal, bot_id=456, bot_token="t")
    response, _ = export(viewer_client, bot)
    assert response["Content-Disposition"] == 'attachment; filename="acme-456-history.csv"'
