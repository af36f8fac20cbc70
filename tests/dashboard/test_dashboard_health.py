"""The dashboard's health checks: problems shown wherever a status is, accept a new id,
expect this, expectations in the bot form, credential warnings."""

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import AnswerProbe, AuditLog, Bot, BotEvent, CredentialWarning
from checks.status import Status
from tests.dashboard.test_dashboard_manage import portal_post
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db
PROBLEM = {"check": "reregistered", "detail": "id 456 -> 789", "key": "reregistered:789", "critical": False}


@pytest.fixture
def degraded_bot(db):
    portal = make_portal(n_bots=1)
    bot = Bot.objects.get(portal=portal)
    Bot.objects.filter(pk=bot.pk).update(
        status=Status.DEGRADED,
        status_since=timezone.now(),
        problems=[PROBLEM],
        pinned_id=456,
        remote_id=789,
        baseline={"eventMode": "fetch", "language": "de"},
    )
    bot.refresh_from_db()
    return bot


def login(client, user):
    client.force_login(user)
    return client


def test_problems_show_on_the_overview_portal_and_bot_pages(client, viewer, degraded_bot):
    login(client, viewer)
    for url in (
        reverse("dashboard:overview"),
        reverse("dashboard:portal-detail", args=[degraded_bot.portal_id]),
        reverse("dashboard:bot-detail", args=[degraded_bot.pk]),
    ):
        body = client.get(url).content.decode()
        assert "Degraded" in body and "id 456 -&gt; 789" in body, url
    body = client.get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    assert 'data-check="reregistered" data-state="problem"' in body
    assert "Accept id 789" not in body  # a viewer sees the problem, not the button
    csv = b"".join(client.get(reverse("dashboard:bot-history-csv", args=[degraded_bot.pk])).streaming_content)
    assert b"problems" in csv.splitlines()[0]


def test_an_operator_accepts_the_new_id_and_it_is_audited(client, operator, viewer, degraded_bot):
    url = reverse("dashboard:bot-accept-id", args=[degraded_bot.pk])
    assert login(client, viewer).post(url, {"new_id": "789"}).status_code == 403
    login(client, operator)
    page = client.get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    assert "Accept id 789" in page
    assert client.post(url, {"new_id": "790"}).status_code == 302  # a stale or made-up id is refused
    assert Bot.objects.get().pinned_id == 456
    client.post(url, {"new_id": "789"})
    assert Bot.objects.get().pinned_id == 789
    assert AuditLog.objects.filter(action="accept bot id").count() == 1
    assert BotEvent.objects.get().kind == BotEvent.Kind.ID_ACCEPTED


def test_expect_this_turns_a_recorded_change_into_an_expectation(client, operator, degraded_bot):
    event = BotEvent.objects.create(
        bot=degraded_bot,
        kind=BotEvent.Kind.CONFIG_CHANGED,
        changes={"language": ["de", "en"]},
        note="language: de -> en",
    )
    login(client, operator)
    body = client.get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    assert "language: de -&gt; en" in body and "Expect this" in body
    client.post(reverse("dashboard:bot-expect", args=[degraded_bot.pk]), {"event": event.pk})
    assert Bot.objects.get().expect == {"language": "en"}
    client.post(reverse("dashboard:bot-expect", args=[degraded_bot.pk]))  # the whole current configuration
    assert Bot.objects.get().expect == {"language": "de", "eventMode": "fetch"}


def test_the_bot_form_takes_expectations_and_names_bad_ones(client, dashboard_admin, settings, simulator):
    settings.BOTWATCH_ALLOW_HTTP = True
    login(client, dashboard_admin)
    url = simulator.portal_url("acme")
    bad = portal_post(
        url, action="save", **{"bots-0-expect_text": "{eventMode: polling}", "bots-0-backlog_minutes": "0"}
    )
    body = client.post(reverse("dashboard:portal-create"), bad).content.decode()
    assert "expect.eventMode: must be fetch or webhook" in body
    assert "Backlog minutes must be a whole number of minutes from 1 to 1440." in body
    assert not Bot.objects.exists()
    good = portal_post(
        url,
        action="save",
        **{"bots-0-expect_text": "{eventMode: fetch, commands: [help]}", "bots-0-backlog_minutes": "30"},
    )
    client.post(reverse("dashboard:portal-create"), good)
    bot = Bot.objects.get()
    assert (bot.expect, bot.backlog_minutes) == ({"eventMode": "fetch", "commands": ["help"]}, 30)


def test_credential_warnings_show_on_the_portal_bot_and_overview(client, viewer, degraded_bot):
    CredentialWarning.objects.create(
        portal=degraded_bot.portal,
        bot=degraded_bot,
        kind=CredentialWarning.Kind.LONG_BOT_TOKEN,
        detail="bot token is 48 characters",
    )
    login(client, viewer)
    overview = client.get(reverse("dashboard:overview")).content.decode()
    assert 'data-credential-warnings="1"' in overview
    for url in (
        reverse("dashboard:portal-detail", args=[degraded_bot.portal_id]),
        reverse("dashboard:bot-detail", args=[degraded_bot.pk]),
    ):
        assert "bot token is 48 characters" in client.get(url).content.decode()
    listing = client.get(reverse("dashboard:portal-list"), {"warnings": "1"}).content.decode()
    assert degraded_bot.portal.name in listing


def health_row(body: str, check: str) -> str:
    """The health table's row of one check, from its opening tag to its end."""
    start = body.index(f'<tr data-check="{check}"')
    return body[start : body.index("</tr>", start)]


def test_the_answer_probe_and_silence_have_their_rows_with_their_last_outcome(client, viewer, degraded_bot):
    now = timezone.now()
    Bot.objects.filter(pk=degraded_bot.pk).update(
        answer={"text": "/ping", "within": 30, "every": 900},
        silence=3600,
        message_growth_at=now - timezone.timedelta(minutes=5),
    )
    AnswerProbe.objects.create(bot=degraded_bot, sent_at=now - timezone.timedelta(minutes=2), dialog="456",
                               text="/ping", deadline=now, outcome="answered", answer_ms=2000)  # fmt: skip
    body = login(client, viewer).get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    answer = health_row(body, "no_answer")
    assert 'data-state="ok"' in answer and "answered in 2.0 s (probe sent 2 min ago)" in answer
    silent = health_row(body, "silent")
    assert 'data-state="ok"' in silent and "last new message 5 min ago (allowed: 1 h)" in silent

    no_answer = {"check": "no_answer", "detail": "no answer to /ping within 30 s", "key": "no_answer"}
    Bot.objects.filter(pk=degraded_bot.pk).update(problems=[no_answer], answer={}, silence=None)
    body = client.get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    assert 'data-state="problem"' in health_row(body, "no_answer")
    assert "no answer to /ping within 30 s" in health_row(body, "no_answer")
    assert 'data-state="na"' in health_row(body, "silent") and "no silence rule set" in health_row(body, "silent")

    refused = {"check": "answer_refused", "detail": "refused: ACCESS_DENIED", "key": "answer_refused"}
    Bot.objects.filter(pk=degraded_bot.pk).update(problems=[refused])
    body = client.get(reverse("dashboard:bot-detail", args=[degraded_bot.pk])).content.decode()
    assert 'data-state="problem"' in health_row(body, "no_answer") and "ACCESS_DENIED" in health_row(body, "no_answer")
