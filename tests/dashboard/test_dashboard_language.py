"""The dashboard's language: the browser's Accept-Language by default, the header's selector (Django's
set_language, a cookie) when chosen; dates and numbers in that language; the customer's status page
in its portal's language, and the API and /metrics in English, whatever the viewer's."""

import json
import re
from datetime import date

import pytest
from django.conf import settings

from checks.customer import links
from checks.models import ApiToken, Bot, Portal
from tests.fixtures.dashboard import add_history, make_portal

pytestmark = pytest.mark.django_db
RU = {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9,en;q=0.5"}
NBSP = "\xa0"


def test_a_russian_browser_gets_the_dashboard_in_russian(viewer, client):
    client.force_login(viewer)
    page = client.get("/", **RU).content.decode()
    assert '<html lang="ru">' in page
    assert "<h1>Обзор</h1>" in page
    assert ">Оповещения</a>" in page  # the navigation
    assert "Overview" not in page


def test_an_english_browser_still_gets_english(viewer, client):
    client.force_login(viewer)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()
    assert '<html lang="en">' in page
    assert "<h1>Overview</h1>" in page


def test_the_chosen_language_is_kept_in_a_cookie_over_the_browsers(viewer, client):
    client.force_login(viewer)
    answer = client.post("/i18n/setlang/", {"language": "en", "next": "/alerts/"}, **RU)
    assert answer.status_code == 302 and answer["Location"] == "/alerts/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "<h1>Alerts</h1>" in client.get("/alerts/", **RU).content.decode()
    client.post("/i18n/setlang/", {"language": "ru", "next": "/"})
    assert "<h1>Оповещения</h1>" in client.get("/alerts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_login_page_offers_the_language_choice_without_a_login(client):
    page = client.get("/login/", **RU).content.decode()
    assert "Вход в BotWatch" in page
    assert 'action="/i18n/setlang/"' in page and '<option value="en" lang="en">English</option>' in page
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/login/"}).status_code == 302


@pytest.mark.parametrize(
    ("portal_language", "browser", "heading"), [("en", "ru", "Status of"), ("ru", "en", "Состояние:")]
)
def test_the_status_page_keeps_its_portals_language(client, portal_language, browser, heading):
    portal = make_portal("acme", n_bots=1, language=portal_language)
    token = links.issue(portal)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = browser
    page = client.get(f"/status/{token}/", HTTP_ACCEPT_LANGUAGE=browser).content.decode()
    assert f'<html lang="{portal_language}"' in page
    assert heading in page


def test_dates_and_counters_are_written_the_viewers_way(viewer, client):
    portal = make_portal("acme", n_bots=1, auth_type="oauth", oauth_client_id="app", app_paid_until=date(2026, 12, 7))
    Bot.objects.filter(portal=portal).update(count_message=1234567)
    client.force_login(viewer)
    russian = client.get(f"/portals/{portal.pk}/", **RU).content.decode()
    assert "7 декабря 2026 г." in russian  # noqa: RUF001
    english = client.get(f"/portals/{portal.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Dec. 7, 2026" in english
    overview = client.get("/", **RU).content.decode()
    assert f"1{NBSP}234{NBSP}567" in overview
    assert "1,234,567" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_charts_read_plain_numbers_in_russian(viewer, client):
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    add_history(bot, n=5)
    client.force_login(viewer)
    page = client.get(f"/bots/{bot.pk}/?range=24h", **RU).content.decode()
    data = json.loads(page.split('id="chart-data" type="application/json">')[1].split("</script>")[0])
    assert all(isinstance(v, int) for v in data["countMessage"])
    assert all(isinstance(v, (int, float)) for v in data["latency"])
    assert "Задержка (мс)" in page


def test_the_api_and_metrics_answer_in_english_to_a_russian_browser(client):
    answer = client.get("/api/v1/portals", **RU)
    assert answer.status_code == 401
    assert answer["Content-Language"] == "en"
    assert "credentials were not provided" in answer.json()["detail"]
    _, value = ApiToken.issue("grafana", ApiToken.Role.READ)
    Portal.objects.create(name="acme", url="https://acme.example.com", webhook_user_id=1, webhook_code="x")
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {value}", **RU)
    assert metrics.status_code == 200 and metrics["Content-Language"] == "en"


def test_every_form_label_and_help_text_is_russian(dashboard_admin, client):
    """Labels Django makes up from a model's field names ("Name", "Pace rate") are English unless
    the form names them: every label and help text on the forms is in Russian for a Russian browser."""
    client.force_login(dashboard_admin)
    portal = make_portal("acme")
    for path in ("/portals/new/", f"/portals/{portal.pk}/edit/", "/notifications/", "/account/", "/portal-file/"):
        page = client.get(path, **RU).content.decode()
        texts = re.findall(r"<label[^>]*>(.*?)</label>|<span class=\"helptext\"[^>]*>(.*?)</span>", page, re.S)
        words = [re.sub(r"<[^>]+>", "", a or b).strip() for a, b in texts]
        english = [w for w in words if re.search(r"[A-Za-z]{4,}", w) and not re.search("[\\u0400-\\u04ff]", w)]
        # Data and names that stay as they are in every language.
        english = [w for w in english if w not in {"English", "Email", "Webhook", "OAuth"}]
        assert english == [], path
