"""Each task is named after its module, and a message queued under a task's earlier name (before an
upgrade) is still run, by the same function."""

import pytest

from checks.engine import claims
from checks.models import Bot, Portal, Verification
from dashboard.celery import app
from tests.fixtures.celery_worker import wait_for

# Earlier name -> the name of the task that now runs it.
EARLIER_NAMES = {
    "checks.tasks.dispatch_due": "checks.engine.tasks.dispatch_due",
    "checks.tasks.verify_portal": "checks.engine.tasks.verify_portal",
    "checks.tasks.prune_history": "checks.engine.tasks.prune_history",
    "checks.alert_tasks.deliver_notification": "checks.alerts.tasks.deliver_notification",
    "checks.alerts.deliver_channel": "checks.alerts.tasks.deliver_channel",
    "checks.alert_tasks.send_reminders": "checks.alerts.tasks.send_reminders",
    "checks.alert_tasks.retry_pending": "checks.alerts.tasks.retry_pending",
    "checks.alerts.announce_wave": "checks.alerts.tasks.announce_wave",
    "checks.alerts.refresh_credential_warnings": "checks.alerts.tasks.refresh_credential_warnings",
    "checks.alerts.send_credential_digest": "checks.alerts.tasks.send_credential_digest",
}


@pytest.fixture(autouse=True)
def _task_modules():
    app.loader.import_default_modules()  # as a worker does at start: CELERY_IMPORTS


def function_of(task):
    """The function a task runs (a bound task's is a method of the task)."""
    return getattr(task.__wrapped__, "__func__", task.__wrapped__)


def test_every_task_is_named_after_its_module():
    ours = {name: task for name, task in app.tasks.items() if name.startswith("checks.")}
    current = {name for name in ours if name not in EARLIER_NAMES}
    assert set(EARLIER_NAMES.values()) <= current
    for name in current:
        assert name.rpartition(".")[0] == function_of(ours[name]).__module__


@pytest.mark.parametrize(("earlier", "current"), EARLIER_NAMES.items())
def test_an_earlier_name_runs_the_same_function_with_the_same_limits(earlier, current):
    old, new = app.tasks[earlier], app.tasks[current]
    assert function_of(old) is function_of(new)
    limits = ("acks_late", "soft_time_limit", "time_limit", "max_retries")
    assert [getattr(old, name) for name in limits] == [getattr(new, name) for name in limits]


@pytest.mark.slow
def test_a_verification_queued_under_its_earlier_name_is_run_by_a_worker(celery_procs, simulator):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="k3y")
    simulator.add_bot("acme", code="bot0", bot_token="tok0", event_mode="webhook")
    portal = Portal.objects.create(name="acme", url=simulator.portal_url("acme"), webhook_user_id=1, webhook_code="k3y")
    Bot.objects.create(portal=portal, code="bot0", bot_token="tok0")
    token = claims.claim_portal(portal.pk)
    # As a release before the rename queued it: the old name, on the verify queue.
    app.send_task("checks.tasks.verify_portal", args=[portal.pk, str(token)], queue="verify")
    celery_procs.start_worker("w1")
    wait_for(lambda: Verification.objects.filter(bot__code="bot0").exists(), 60, "the old-name message to run")
    assert Bot.objects.get(code="bot0").status == "ok"
    assert "checks.tasks.verify_portal" in celery_procs.log("w1")
