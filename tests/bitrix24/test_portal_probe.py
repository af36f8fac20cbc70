"""The portal probe over HTTP: server.time, profile and app.info in the bots' batch; a failing portal
gives its bots its status without calling them. The portal's verdict: tests/health/test_portal.py."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.bitrix24.client import verify_bots
from checks.bitrix24.probe import AppInfo, PortalResult, ProbeCall, apply_answer, parse_app_info
from checks.status import Status
from tests.bitrix24.helpers import (  # noqa: F401 - fixtures
    fast,
    oauth_bot,
    oauth_portal,
    oauth_server,
    sim,
    two_bots,
    verify_run,
    webhook_bot,
    webhook_portal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast", "oauth_server")]


def test_the_probe_rides_in_the_bots_batch(sim):
    portal = webhook_portal(sim, license="de_ent250")
    bots = two_bots(sim, portal)
    outcome, results = verify_run(portal, bots)
    assert [r.status for r in results] == [Status.OK, Status.OK] and not any(r.by_portal for r in results)
    assert (outcome.status, outcome.app_info.license, outcome.notes) == (Status.OK, "de_ent250", [])
    stats = sim.stats("acme")
    assert stats["requests"] == 1
    assert stats["methods"] == {"batch": 1, "server.time": 1, "profile": 1, "app.info": 1, "imbot.v2.bot.get": 2}


def test_one_bot_and_the_probe_share_one_batch(sim):
    portal = webhook_portal(sim)
    outcome, [result] = verify_run(portal, [webhook_bot(sim, portal, "support_bot")])
    assert result.status == Status.OK and outcome.status == Status.OK
    assert sim.stats("acme")["requests"] == 1


def test_app_info_is_read_at_most_daily(sim):
    portal = webhook_portal(sim)
    bots = two_bots(sim, portal)
    portal.app_info_checked_at = timezone.now() - timedelta(hours=2)
    outcome, _ = verify_run(portal, bots)
    assert outcome.app_info is None and "app.info" not in sim.stats("acme")["methods"]
    portal.app_info_checked_at = timezone.now() - timedelta(hours=23, minutes=1)
    outcome, _ = verify_run(portal, bots)
    assert outcome.app_info is not None


def test_verify_bots_alone_does_not_probe(sim):
    portal = webhook_portal(sim)
    verify_bots(portal, two_bots(sim, portal))
    assert set(sim.stats("acme")["methods"]) == {"batch", "imbot.v2.bot.get"}


@pytest.mark.parametrize(
    ("outage", "status", "description"),
    [
        ("502", Status.SERVER_ERROR, "HTTP 502: body is not JSON"),
        ("refused", Status.UNREACHABLE, "refused the connection"),
        ("timeout", Status.UNREACHABLE, "timeout: no complete answer"),
    ],
)
def test_a_portal_outage_is_every_bots_status_without_calling_them(sim, settings, outage, status, description):
    settings.BITRIX24_TIMEOUT = 0.5
    portal = webhook_portal(sim, own_port=True)
    bots = two_bots(sim, portal)
    sim.set_outage("acme", outage, sleep_s=2)
    outcome, results = verify_run(portal, bots)
    assert outcome.status == status and outcome.failing and description in outcome.error_description
    assert all(r.status == status and r.by_portal for r in results)
    assert results[0].error_description.startswith("not verified, the portal failed: ")
    # A later chunk of the same run is not called at all.
    before = sim.stats("acme")["requests"]
    _, later = verify_run(portal, bots, known=outcome)
    assert [r.status for r in later] == [status, status] and sim.stats("acme")["requests"] == before


def test_without_batch_the_probe_goes_first_and_a_failing_portal_spares_its_bots(sim):
    portal = webhook_portal(sim, batch_imbot=False)
    portal.batch_supported = False  # learned from an earlier run
    portal.save()
    bots = two_bots(sim, portal)
    outcome, results = verify_run(portal, bots)
    assert outcome.status == Status.OK and [r.status for r in results] == [Status.OK, Status.OK]
    assert sim.stats("acme")["methods"] == {"server.time": 1, "profile": 1, "app.info": 1, "imbot.v2.bot.get": 2}
    sim.reset_stats("acme")
    sim.inject_fault("acme", "INVALID_CREDENTIALS")
    outcome, results = verify_run(portal, bots)
    assert (outcome.status, outcome.error_code) == (Status.AUTH_FAILED, "INVALID_CREDENTIALS")
    assert all(r.by_portal and r.status == Status.AUTH_FAILED for r in results)
    assert sim.stats("acme")["methods"] == {"server.time": 1}


def test_bots_failing_each_on_their_own_leave_the_portal_alone(sim):
    portal = webhook_portal(sim)
    bots = two_bots(sim, portal)
    sim.remove_bot("acme", "support_bot")
    sim.inject_fault("acme", "QUERY_LIMIT_EXCEEDED", bot="sales_bot")
    outcome, results = verify_run(portal, bots)
    assert outcome.status == Status.OK
    assert [(r.status, r.by_portal) for r in results] == [(Status.NOT_FOUND, False), (Status.RATE_LIMITED, False)]


def test_webhook_secrets_never_reach_the_portals_description(sim):
    portal = webhook_portal(sim)
    bots = two_bots(sim, portal)
    sim.inject_fault("acme", "custom", code="NO_AUTH_FOUND", http_status=401, description=f"bad {portal.webhook_code}")
    outcome, _ = verify_run(portal, bots)
    assert outcome.status == Status.AUTH_FAILED and portal.webhook_code not in outcome.error_description


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"INSTALLED": True, "PAYMENT_EXPIRED": "N", "DAYS": None, "LICENSE": "com_project", "STATUS": "L"},
         AppInfo(license="com_project", status="L", installed=True, payment_expired=False, days=None)),
        ({"INSTALLED": "N", "PAYMENT_EXPIRED": "Y", "DAYS": "-3"},
         AppInfo(installed=False, payment_expired=True, days=-3)),
        ({"SCOPE": ["imbot"], "LICENSE": "en_basic"}, AppInfo(license="en_basic")),
        ({"DAYS": True, "LICENSE": {"x": 1}}, AppInfo()),
        ("not an object", None),
    ],
)  # fmt: skip
def test_app_info_parsing(value, expected):
    assert parse_app_info(value) == expected


@pytest.mark.parametrize("empty", [{}, []])
def test_an_empty_profile_either_way_means_a_switched_off_user(empty):
    result = PortalResult()
    apply_answer(result, ProbeCall("probe_profile", "profile"), empty, None)
    assert result.status == Status.AUTH_FAILED
    other = PortalResult()
    apply_answer(other, ProbeCall("probe_profile", "profile"), {"ID": "1"}, None)
    assert other.status == Status.OK and other.problems == []


def test_app_info_refused_is_a_note_not_a_failure():
    result = PortalResult()
    apply_answer(result, ProbeCall("probe_app", "app.info"), None, ("ACCESS_DENIED", "Application context required"))
    assert result.status == Status.OK and result.notes == ["app.info not answered: ACCESS_DENIED"]
    apply_answer(result, ProbeCall("probe_time", "server.time"), None, ("ACCESS_DENIED", "REST is not available"))
    assert result.status == Status.PORTAL_UNAVAILABLE
