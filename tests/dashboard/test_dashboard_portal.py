"""The portal page's "check now": queued through the engine, then the fragment reports the results."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from checks.models import AuditLog, Portal, Verification
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def test_check_now_claims_the_portal_and_waits_for_every_bot(operator_client):
    portal = make_portal("big", n_bots=30)
    response = operator_client.post(reverse("dashboard:portal-check-now", args=[portal.pk]))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.claim_token is not None  # check_now claimed it for a worker
    assert AuditLog.objects.filter(action="check now", object_repr="big").exists()
    status_url = reverse("dashboard:portal-check-status", args=[portal.pk])
    assert "Checking big now" in operator_client.get(status_url).content.decode()

    now = timezone.now()
    Verification.objects.bulk_create(
        Verification(bot=bot, portal=portal, slot=now, checked_at=now, status="ok", manual=True)
        for bot in portal.bots.all()
    )
    body = operator_client.get(status_url).content.decode()
    assert "Check finished" in body and "hx-trigger" not in body  # polling stops


def test_check_now_says_when_no_worker_answers(operator_client):
    portal = make_portal("slow", n_bots=1)
    operator_client.post(reverse("dashboard:portal-check-now", args=[portal.pk]))
    session = operator_client.session
    session[f"check-now-{portal.pk}"] = (timezone.now() - timedelta(minutes=5)).isoformat()
    session.save()
    body = operator_client.get(reverse("dashboard:portal-check-status", args=[portal.pk])).content.decode()
    assert "No result yet" in body and "celery -A dashboard worker" in body


def test_paused_portal_is_not_checked(operator_client):
    portal = make_portal("resting", n_bots=1, paused=True)
    response = operator_client.post(reverse("dashboard:portal-check-now", args=[portal.pk]), follow=True)
    assert "is paused" in response.content.decode()
    assert Portal.objects.get(pk=portal.pk).claim_token is None


def test_resume_after_pause(operator_client):
    portal = make_portal("p", n_bots=1)
    operator_client.post(reverse("dashboard:portal-pause", args=[portal.pk]), {"paused": "1"})
    assert Portal.objects.get(pk=portal.pk).paused
    operator_client.post(reverse("dashboard:portal-pause", args=[portal.pk]), {"paused": "0"})
    assert not Portal.objects.get(pk=portal.pk).paused
    assert list(AuditLog.objects.order_by("at", "id").values_list("action", flat=True)) == ["pause", "resume"]
