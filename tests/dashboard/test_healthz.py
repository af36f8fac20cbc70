"""/healthz: JSON for an outside uptime monitor, 200 only when checks are running. Without a login
it says only that; the parts, host names and error classes are for signed-in users."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.models import Bot, Heartbeat, Portal
from dashboard.celery import app
from tests.fixtures.history import record_check


@pytest.fixture
def signed_in(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def beat_alive(db):
    Heartbeat.objects.create(name="beat", seen_at=timezone.now() - timedelta(seconds=3))
    Heartbeat.objects.create(name="worker:w1@host", seen_at=timezone.now() - timedelta(seconds=4))
    Heartbeat.objects.create(name="scheduler:host", seen_at=timezone.now() - timedelta(seconds=5))


def make_bot() -> Bot:
    portal = Portal.objects.create(name="acme", url="https://acme.example", webhook_user_id=1, webhook_code="k")
    return Bot.objects.create(portal=portal, code="alpha", bot_token="t")


def verified(bot: Bot, ago: timedelta) -> None:
    record_check(bot, timezone.now() - ago)


def test_without_a_tick_it_answers_503_naming_the_scheduler(signed_in):
    response = signed_in.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail" and body["problems"] == ["scheduler"]
    assert body["database"] == {"ok": True} and body["broker"] == {"ok": True}
    assert body["last_tick_age"] is None and body["last_verification_age"] is None


def test_ticks_and_no_bots_is_healthy(signed_in, beat_alive):
    response = signed_in.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert 2 < body["last_tick_age"] < 30
    assert body["workers"] == {"w1@host": pytest.approx(4, abs=5)}
    assert body["schedulers"] == {"host": pytest.approx(5, abs=5)}
    assert response["Cache-Control"].startswith("max-age=0")


def test_recent_verification_is_healthy(signed_in, beat_alive):
    verified(make_bot(), timedelta(seconds=20))
    body = signed_in.get("/healthz").json()
    assert body["status"] == "ok" and 19 < body["last_verification_age"] < 60


def test_stale_verifications_answer_503(signed_in, beat_alive, settings):
    settings.BOTWATCH_CHECK_INTERVAL = 300
    verified(make_bot(), timedelta(hours=1))
    response = signed_in.get("/healthz")
    assert response.status_code == 503 and response.json()["problems"] == ["verifications"]


def test_stale_tick_answers_503(signed_in, beat_alive):
    Heartbeat.objects.filter(name="beat").update(seen_at=timezone.now() - timedelta(minutes=5))
    response = signed_in.get("/healthz")
    assert response.status_code == 503 and response.json()["problems"] == ["scheduler"]


def test_unreachable_broker_answers_503_without_its_address(signed_in, beat_alive):
    original = app.conf.broker_url
    app.conf.broker_url = "redis://:secret-password@127.0.0.1:9/0"
    try:
        response = signed_in.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert "secret-password" not in response.content.decode() and "127.0.0.1:9" not in response.content.decode()


def test_without_login_only_the_overall_state(client, beat_alive):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_without_login_a_failure_is_503_and_names_nothing(client, beat_alive):
    Heartbeat.objects.filter(name="beat").update(seen_at=timezone.now() - timedelta(minutes=5))
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}
    body = response.content.decode()
    assert "w1@host" not in body and "ConnectionError" not in body and "OperationalError" not in body
