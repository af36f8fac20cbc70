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


@shared_task(
    name=DELIVER_TASK, bind=True, acks_late=True, max_retries=TASK_RETRIES, soft_time_limit=120, time_limit=180
)
def deliver_notification(self, notification_id: int) -> str:
    state = delivery.deliver(notification_id)
    if state == Notification.State.PENDING and self.request.retries < self.max_retries:
        attempts = Notification.objects.filter(pk=notification_id).values_list("attempts", flat=True).first() or 1
        raise self.retry(countdown=delivery.retry_delay(attempts))
    return state


@shared_task(
    name=DELIVER_CHANNEL_TASK, bind=True, acks_late=True, max_retries=TASK_RETRIES, soft_time_limit=120, time_limit=180
)
def deliver_channel(self, delivery_id: int) -> str:
    state = channel_delivery.deliver_channel(delivery_id)
    if state == ChannelDelivery.State.PENDING and self.request.retries < self.max_retries:
        attempts = ChannelDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        raise self.retry(countdown=delivery.retry_delay(attempts))
    return state


@shared_task(name=REMINDERS_TASK, acks_late=True, soft_time_limit=240, time_limit=290)
def send_reminders() -> int:
    return len(incidents.send_reminders())


@shared_task(name=RETRY_TASK, acks_late=True, soft_time_limit=50, time_limit=58)
def retry_pending() -> int:
    ids = delivery.due_for_retry()
    for pk in ids:
        enqueue_delivery(pk)
    channel_ids = channel_delivery.due_for_retry()
    for pk in channel_ids:
        enqueue_channel_delivery(pk)
    return len(ids) + len(channel_ids)


@shared_task(name=ANNOUNCE_TASK, acks_late=True, soft_time_limit=120, time_limit=180)
def announce_wave(wave_id: int) -> int:
    """A fleet wave's one email, once it gathered its portals (the reminder sweep catches a lost one)."""
    ids = waves.announce(wave_id)
    dispatch(ids, inline=False)
    return len(ids)


@shared_task(name="checks.alerts.refresh_credential_warnings", acks_late=True, soft_time_limit=600, time_limit=660)
def refresh_credential_warnings() -> int:
    return credentials.refresh_credential_warnings()


@shared_task(name="checks.alerts.send_credential_digest", acks_late=True, soft_time_limit=240, time_limit=290)
def send_credential_digest() -> int:
    return len(credentials.send_credential_digest())
