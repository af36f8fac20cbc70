"""The customer's status page and badges, by link: one portal only, plain words, nothing secret, 404 once revoked."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from checks.customer import links
from checks.history.lists import daily_tallies
from checks.models import AuditLog, Bot, DailyStat, Incident, Portal
from checks.status import Status
from dashboard.views.customer import cache_key
from tests.customer.helpers import seconds_to_live
from tests.fixtures.dashboard import add_history, make_portal, open_incident

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


@pytest.fixture
def two_portals():
    acme = make_portal("acme", n_bots=2, customer_name="ACME GmbH")
    globex = make_portal("globex-secret-name", n_bots=1, url="https://globex.example.com")
    ok_bot, bad_bot = acme.bots.order_by("code")
    add_history(ok_bot, n=20)
    add_history(bad_bot, n=20, fail_last=2)
    Bot.objects.filter(pk=bad_bot.pk).update(status=Status.NOT_FOUND, last_error="BOT_NOT_FOUND")
    incident = open_incident(bad_bot)
    Incident.objects.filter(pk=incident.pk).update(error_description="internal detail: BOT_NOT_FOUND at /rest/1/x")
    open_incident(globex.bots.get())
    return acme, globex


def test_the_page_shows_one_portal_in_plain_words_and_nothing_internal(client, two_portals):
    acme, _ = two_portals
    token = links.issue(acme)
    response = client.get(f"/status/{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "ACME GmbH" in html and "bot_0" in html and "bot_1" in html
    assert "Not installed on the portal" in html and "Working" in html
    assert "globex" not in html
    for secret in ("BOT_NOT_FOUND", "internal detail", "s3cret", "acme.example.com", token):
        assert secret not in html
    assert html.count('class="bar bar-') >= 2 * 90
    assert '<meta name="robots" content="noindex' in html
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "unsafe-inline" not in response.headers.get("Content-Security-Policy", "")
    assert "<script" not in html and "style=" not in html


def test_a_bad_or_revoked_link_answers_404(client, two_portals):
    acme, _ = two_portals
    token = links.issue(acme)
    assert client.get(f"/status/{token}/").status_code == 200
    assert client.get(f"/status/{token[:-1]}x/").status_code == 404
    call_command("status_link", "acme", "--revoke")
    assert client.get(f"/status/{token}/").status_code == 404
    assert client.get(f"/status/{token}/badge.svg").status_code == 404


def test_the_command_prints_the_url_last_creates_once_and_rotates(capsys, two_portals):
    call_command("status_link", "acme")
    first = capsys.readouterr().out.strip().splitlines()[-1]
    call_command("status_link", "acme")
    assert capsys.readouterr().out.strip().splitlines()[-1] == first
    call_command("status_link", "acme", "--rotate")
    rotated = capsys.readouterr().out.strip().splitlines()[-1]
    assert rotated != first and rotated.startswith("http://") and "/status/" in rotated
    portal = Portal.objects.get(name="acme")
    assert portal.status_token_digest == links.digest(rotated.rstrip("/").rsplit("/", 1)[-1])
    actions = list(AuditLog.objects.filter(object_id=str(portal.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["create status link", "rotate status link"]
    assert links.find(rotated.rstrip("/").rsplit("/", 1)[-1]).pk == portal.pk


def test_the_token_is_not_stored_in_clear(two_portals):
    acme, _ = two_portals
    token = links.issue(acme)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status_token FROM checks_portal WHERE id = %s", [acme.pk])
        stored = cursor.fetchone()[0]
    assert token not in stored


def test_the_page_is_cached_at_most_a_minute_and_shows_a_new_incident_once_it_expires(client, settings, two_portals):
    acme, _ = two_portals
    assert settings.BOTWATCH_STATUS_CACHE_SECONDS <= 60
    ok_bot = acme.bots.get(code="bot_0")
    token = links.issue(acme)
    assert "bot_0</b>: " not in client.get(f"/status/{token}/").content.decode()
    acme.refresh_from_db()
    key = cache_key(acme)
    # The entry's time to live as the cache holds it: it is gone within a minute.
    assert 0 < seconds_to_live(key) <= 60
    open_incident(ok_bot)
    cache.delete(key)  # what the TTL does within a minute
    assert "<b>bot_0</b>: " in client.get(f"/status/{token}/").content.decode()


def test_badges_are_escaped_cacheable_svg(client, two_portals):
    acme, _ = two_portals
    Bot.objects.create(portal=acme, code="a<b>&c", bot_token="t")
    token = links.issue(acme)
    response = client.get(f"/status/{token}/bots/bot_0/badge.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert "max-age=" in response.headers["Cache-Control"]
    assert "bot_0: up 99 %" in response.content.decode()  # 3 failures in 308 checks
    whole = client.get(f"/status/{token}/badge.svg").content.decode()
    assert "acme" in whole and "down" in whole
    odd = client.get(f"/status/{token}/bots/a<b>&c/badge.svg").content.decode()
    assert "a&lt;b&gt;&amp;c" in odd and "a<b>" not in odd
    assert client.get(f"/status/{token}/bots/nobody/badge.svg").status_code == 404


def test_the_page_speaks_the_portals_language(client, two_portals):
    acme, _ = two_portals
    Portal.objects.filter(pk=acme.pk).update(language="ru")
    token = links.issue(acme)
    html = client.get(f"/status/{token}/").content.decode()
    assert 'lang="ru"' in html and "Не установлен на портале" in html  # noqa: RUF001


def test_daily_tallies_take_folded_days_and_packed_hours_in_a_fixed_number_of_queries(
    two_portals, django_assert_max_num_queries
):
    acme, _ = two_portals
    bots = list(acme.bots.order_by("code"))
    today = timezone.localdate()
    with django_assert_max_num_queries(2):
        tallies = daily_tallies(bots, today - timedelta(days=89), today)
    folded = DailyStat.objects.get(bot=bots[1]).day
    assert tallies[bots[1].pk][folded] == (288, 285)
    raw = sum(checks for day, (checks, _) in tallies[bots[1].pk].items() if day != folded)
    good = sum(g for day, (_, g) in tallies[bots[1].pk].items() if day != folded)
    assert (raw, good) == (20, 18)


def test_admins_create_rotate_and_revoke_the_link_on_the_portal_page(client, two_portals, dashboard_admin, viewer):
    acme, _ = two_portals
    client.force_login(viewer)
    assert client.post(f"/portals/{acme.pk}/status-link/", {"action": "create"}).status_code == 403
    assert "Create status page link" not in client.get(f"/portals/{acme.pk}/").content.decode()
    client.force_login(dashboard_admin)
    assert "Create status page link" in client.get(f"/portals/{acme.pk}/").content.decode()
    client.post(f"/portals/{acme.pk}/status-link/", {"action": "create"})
    first = Portal.objects.get(pk=acme.pk).status_token
    assert links.page_url(first) in client.get(f"/portals/{acme.pk}/").content.decode()
    client.post(f"/portals/{acme.pk}/status-link/", {"action": "rotate"})
    assert client.get(f"/status/{first}/").status_code == 404
    client.post(f"/portals/{acme.pk}/status-link/", {"action": "revoke"})
    assert Portal.objects.get(pk=acme.pk).status_token_digest is None
    actions = AuditLog.objects.filter(object_id=str(acme.pk)).order_by("pk").values_list("action", flat=True)
    assert list(actions) == ["create status link", "rotate status link", "revoke status link"]


def test_the_days_before_today_are_drawn_once_and_today_is_read_again(client, two_portals):
    """A request after the page's own cache expired reads today's tallies only, and still shows
    every day: the complete days' bars come from the cache of drawn days."""
    acme, _ = two_portals
    ok_bot = acme.bots.get(code="bot_0")
    DailyStat.objects.create(bot=ok_bot, day=timezone.localdate() - timedelta(days=3), checks=288, failures=0)
    token = links.issue(acme)
    acme.refresh_from_db()
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        first = client.get(f"/status/{token}/").content.decode()
    first_count = len(statements)
    cache.delete(cache_key(acme))
    statements.clear()
    with connection.execute_wrapper(count):
        second = client.get(f"/status/{token}/").content.decode()
    assert len(statements) == first_count - 1  # the tallies of the days before today: not read again
    assert "288/288" in first and first.count('class="bar ') == second.count('class="bar ')
    assert second.count("288/288") == 1
