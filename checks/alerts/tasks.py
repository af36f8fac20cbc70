"""Thin Celery tasks for alerting: ids in, a service call, nothing else (STYLE.md).

Redelivery is harmless for all of them (acks_late): delivery claims its row with a
conditional update, and the sweeps claim each incident the same way.
"""

from celery import shared_task

from checks.alerts import channel_delivery, credentials, delivery, incidents, waves
from checks.alerts.queue import (
    ANNOUNCE_TASK,
    DELIVER_CHANNEL_TASK,
    DELIVER_TASK,
    REMINDERS_TASK,
    RETRY_TASK,
    dispatch,
    enqueue_channel_delivery,
    enqueue_delivery,
)
from checks.models import ChannelDelivery, Notification

# Attempts made by the task itself; past them the row stays pending and retry_pending,
# every minute, keeps trying with growing delays: an SMTP outage delays, never drops.
TASK_RETRIES = 5
REFRESH_TASK = "checks.alerts.tasks.refresh_credential_warnings"
DIGEST_TASK = "checks.alerts.tasks.send_credential_digest"
DELIVER_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "max_retries": TASK_RETRIES,
    "soft_time_limit": 120,
    "time_limit": 180,
}
REMINDERS_OPTIONS = {"acks_late": True, "soft_time_limit": 240, "time_limit": 290}
RETRY_OPTIONS = {"acks_late": True, "soft_time_limit": 50, "time_limit": 58}
ANNOUNCE_OPTIONS = {"acks_late": True, "soft_time_limit": 120, "time_limit": 180}
REFRESH_OPTIONS = {"acks_late": True, "soft_time_limit": 600, "time_limit": 660}
DIGEST_OPTIONS = {"acks_late": True, "soft_time_limit": 240, "time_limit": 290}


def run_deliver_notification(task, notification_id: int) -> str:
    state = delivery.deliver(notification_id)
    if state == Notification.State.PENDING and task.request.retries < task.max_retries:
        attempts = Notification.objects.filter(pk=notification_id).values_list("attempts", flat=True).first() or 1
        raise task.retry(countdown=delivery.retry_delay(attempts))
    return state


def run_deliver_channel(task, delivery_id: int) -> str:
    state = channel_delivery.deliver_channel(delivery_id)
    if state == ChannelDelivery.State.PENDING and task.request.retries < task.max_retries:
        attempts = ChannelDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        raise task.retry(countdown=delivery.retry_delay(attempts))
    return state


def run_send_reminders() -> int:
    return len(incidents.send_reminders())


def run_retry_pending() -> int:
    ids = delivery.due_for_retry()
    for pk in ids:
        enqueue_delivery(pk)
    channel_ids = channel_delivery.due_for_retry()
    for pk in channel_ids:
        enqueue_channel_delivery(pk)
    return len(ids) + len(channel_ids)


def run_announce_wave(wave_id: int) -> int:
    """A fleet wave's one email, once it gathered its portals (the reminder sweep catches a lost one)."""
    ids = waves.announce(wave_id)
    dispatch(ids, inline=False)
    return len(ids)


def run_refresh_credential_warnings() -> int:
    return credentials.refresh_credential_warnings()


def run_send_credential_digest() -> int:
    return len(credentials.send_credential_digest())


deliver_notification = shared_task(name=DELIVER_TASK, **DELIVER_OPTIONS)(run_deliver_notification)
deliver_channel = shared_task(name=DELIVER_CHANNEL_TASK, **DELIVER_OPTIONS)(run_deliver_channel)
send_reminders = shared_task(name=REMINDERS_TASK, **REMINDERS_OPTIONS)(run_send_reminders)
retry_pending = shared_task(name=RETRY_TASK, **RETRY_OPTIONS)(run_retry_pending)
announce_wave = shared_task(name=ANNOUNCE_TASK, **ANNOUNCE_OPTIONS)(run_announce_wave)
refresh_credential_warnings = shared_task(name=REFRESH_TASK, **REFRESH_OPTIONS)(run_refresh_credential_warnings)
send_credential_digest = shared_task(name=DIGEST_TASK, **DIGEST_OPTIONS)(run_send_credential_digest)

# The names these tasks had before they moved into checks.alerts.tasks (a module
# checks.alert_tasks, or the package's name): a message queued under one before an upgrade is
# run by the same function.
shared_task(name="checks.alert_tasks.deliver_notification", **DELIVER_OPTIONS)(run_deliver_notification)
shared_task(name="checks.alerts.deliver_channel", **DELIVER_OPTIONS)(run_deliver_channel)
shared_task(name="checks.alert_tasks.send_reminders", **REMINDERS_OPTIONS)(run_send_reminders)
shared_task(name="checks.alert_tasks.retry_pending", **RETRY_OPTIONS)(run_retry_pending)
shared_task(name="checks.alerts.announce_wave", **ANNOUNCE_OPTIONS)(run_announce_wave)
shared_task(name="checks.alerts.refresh_credential_warnings", **REFRESH_OPTIONS)(run_refresh_credential_warnings)
shared_task(name="checks.alerts.send_credential_digest", **DIGEST_OPTIONS)(run_send_credential_digest)
