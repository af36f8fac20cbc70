"""The portal's own state, written with each run: through the engine and the real
client against the simulator over HTTP and its one recording statement, for scheduled and manual runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.engine import claims, recording, runs, verify
from checks.models import AuthType, Bot, Portal, Verification
from checks.status import Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, simulator):
    settings.BITRIX24_RETRY_DELAY = 0.01
    settings.BITRIX24_OAUTH_URL = simulator.oauth_url


def add_portal(simulator, name: str = "acme", bots: int = 3, **sim_kwargs) -> Portal:
    simulator.add_portal(name, webhook_user_id=1, webhook_code="k3y", **sim_kwargs)
    portal = Portal.objects.create(
        name=name, url=simulator.portal_url(name), webhook_user_id=1, webhook_code="k3y", pace_rate=50, pace_burst=50
    )
    for i in range(bots):
        simulator.add_bot(name, code=f"bot{i}", bot_token=f"tok{i}", event_mode="webhook")
        Bot.objects.create(portal=portal, code=f"bot{i}", bot_token=f"tok{i}")
    return portal


def scheduled(portal: Portal) -> list[Verification]:
    Bot.objects.filter(portal=portal).update(next_check_at=timezone.now())
    [(portal_id, token)] = [c for c in claims.claim_due_portals() if c[0] == portal.pk]
    return verify.verify_portal(portal_id, token)


def state(portal: Portal) -> Portal:
    return Portal.objects.get(pk=portal.pk)


@pytest.mark.parametrize("run", ["scheduled", "manual"])
def test_a_working_portal_is_ok_with_its_plan(simulator, run):
    portal = add_portal(simulator, license="de_ent250")
    rows = scheduled(portal) if run == "scheduled" else verify.verify_portal(portal.pk, manual=True)
    assert [r.status for r in rows] == [Status.OK] * 3 and not any(r.by_portal for r in rows)
    after = state(portal)
    assert (after.status, after.consecutive_failures, after.plan, after.last_error) == ("ok", 0, "de_ent250", "")
    assert after.last_checked_at == rows[0].checked_at and after.app_info_checked_at == rows[0].checked_at
    if run == "manual":
        assert after.claim_token is None  # a manual run holds no claim and leaves the schedule alone


def test_a_failing_portal_counts_its_failures_and_keeps_its_since(simulator):
    portal = add_portal(simulator, own_port=True)
    scheduled(portal)
    simulator.set_outage("acme", "refused")
    first = scheduled(portal)
    second = scheduled(portal)
    after = state(portal)
    assert (after.status, after.consecutive_failures) == (Status.UNREACHABLE, 2)
    assert after.status_since == first[0].checked_at and after.last_checked_at == second[0].checked_at
    assert "refused the connection" in after.last_error_description
    assert all(r.by_portal and r.status == Status.UNREACHABLE for r in first + second)
    assert set(Bot.objects.values_list("status", flat=True)) == {Status.UNREACHABLE}
    assert after.claim_token is None and after.next_check_at > timezone.now()

    simulator.set_outage("acme", None)
    rows = verify.verify_portal(portal.pk, manual=True)
    after = state(portal)
    assert (after.status, after.consecutive_failures, after.status_since) == (Status.OK, 0, rows[0].checked_at)
    assert after.last_error_description == ""


def test_a_probe_problem_and_the_apps_paid_period(simulator):
    simulator.add_portal("umbrella", webhook_code=None, license="en_ent250")
    tokens = simulator.add_oauth_app("umbrella", "local.app1", "s3cret")
    simulator.add_bot("umbrella", code="assistant_bot", app_client_id="local.app1", event_mode="webhook")
    simulator.set_app_info("umbrella", "local.app1", days=5, installed=False)
    portal = Portal.objects.create(
        name="umbrella", url=simulator.portal_url("umbrella"), auth_type=AuthType.OAUTH,
        oauth_client_id="local.app1", oauth_client_secret="s3cret", pace_rate=50, pace_burst=50, **{
            "oauth_access_token": tokens["access_token"], "oauth_refresh_token": tokens["refresh_token"]},
    )  # fmt: skip
    Bot.objects.create(portal=portal, code="assistant_bot")
    [row] = scheduled(portal)
    after = state(portal)
    assert row.status == Status.OK and not row.by_portal
    assert (after.status, after.app_status, after.app_installed, after.app_payment_expired) == (
        Status.DEGRADED, "P", False, False,
    )  # fmt: skip
    assert after.app_paid_until == row.checked_at.date() + timedelta(days=5)
    assert [p["check"] for p in after.problems] == ["app_installed"]
    # app.info is read again only a day later: the next runs keep what it said.
    simulator.set_app_info("umbrella", "local.app1", days=40, installed=True)
    scheduled(portal)
    assert state(portal).app_paid_until == after.app_paid_until
    Portal.objects.filter(pk=portal.pk).update(app_info_checked_at=timezone.now() - timedelta(days=1))
    [row] = scheduled(portal)
    after = state(portal)
    assert after.status == Status.OK and after.app_installed is True
    assert after.app_paid_until == row.checked_at.date() + timedelta(days=40) and after.problems == []


def test_chunks_after_the_first_are_not_called_while_the_portal_fails(simulator, settings):
    portal = add_portal(simulator, bots=0)
    for i in range(60):  # two chunks of the engine (50 bots each)
        simulator.add_bot("acme", code=f"b{i:02}", bot_token=f"t{i}", event_mode="webhook")
        Bot.objects.create(portal=portal, code=f"b{i:02}", bot_token=f"t{i}")
    settings.BITRIX24_RETRIES = 0
    simulator.set_outage("acme", "502")
    rows = verify.verify_portal(portal.pk, manual=True)
    assert len(rows) == 60 and all(r.status == Status.SERVER_ERROR and r.by_portal for r in rows)
    assert simulator.stats("acme")["outage_refused"] == 1  # one batch; the second chunk was never sent


def test_a_portal_without_a_probe_keeps_its_state(simulator):
    portal = add_portal(simulator)
    Portal.objects.filter(pk=portal.pk).update(status=Status.UNREACHABLE, consecutive_failures=4)
    run = runs.start_run(portal.pk, None, manual=True)
    run.bots = []
    recording.record_results(run, [], portal=None)
    after = state(portal)
    assert (after.status, after.consecutive_failures, after.last_checked_at) == (Status.UNREACHABLE, 4, None)
