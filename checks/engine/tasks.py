"""Thin Celery tasks of the verification engine: ids in, a service called.

Redelivery is harmless everywhere here (acks_late): `dispatch_due` only claims what has
no live lease, `verify_portal` does nothing unless its claim is still held and records
each slot once, `prune_history` is idempotent.

The answer probes' tasks are the exception: they hand their work to the worker's probe threads
(BOTWATCH_PROBE_THREADS, beside the pool) and end at once, so that probe work never holds a pool
thread that the verifications were counted on (verify_capacity). Their messages are acknowledged
when handed over: a send lost with its worker is skipped until the bot's next probe (never sent
twice), a read lost so is read again by the tick (checks.engine.answers.rescue_lost_reads).
"""

import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from celery.signals import beat_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from checks.engine import answers, dispatch, heartbeats, verify
from checks.history import retention

log = logging.getLogger(__name__)

# Below the claim lease (checks.engine.claims, 600 s by default) so that a live task never
# outlives its claim. The threads pool does not enforce Celery's time limits (prefork
# does); there the run's own deadline (checks.engine.verify.run_seconds, at most 200 s of
# client calls) keeps a run inside its lease, and the lease check at commit guards the rest.
VERIFY_SOFT_LIMIT = 240
VERIFY_HARD_LIMIT = 300
WORKER_HEARTBEAT_EVERY = 15  # seconds


DISPATCH_OPTIONS = {"acks_late": True, "ignore_result": True, "soft_time_limit": 50, "time_limit": 60}
VERIFY_OPTIONS = {
    "acks_late": True,
    "ignore_result": True,
    "soft_time_limit": VERIFY_SOFT_LIMIT,
    "time_limit": VERIFY_HARD_LIMIT,
}
# A hand-over to the probe threads (run_on_probe_threads); the waits between reads are countdowns.
ANSWER_OPTIONS = {"acks_late": False, "ignore_result": True, "soft_time_limit": 60, "time_limit": 90}
PRUNE_OPTIONS = {"acks_late": True, "ignore_result": True, "soft_time_limit": 3000, "time_limit": 3600}


def run_dispatch_due() -> int:
    answers.rescue_lost_reads()  # one indexed query; a read lost with a restarted worker is read again
    return dispatch.dispatch_due()


def run_verify_portal(portal_id: int, claim_token: str | None = None, manual: bool = False) -> int:
    rows = verify.verify_portal(portal_id, claim_token, manual=manual)
    dispatch.refill()  # this run's place is free: the next due portal takes it
    return len(rows)


def run_prune_history() -> dict:
    done = retention.prune_history()
    done["answer_probes"] = answers.prune_probes()
    return done


def run_send_answer_probes(bot_pks: list[int]) -> None:
    run_on_probe_threads(answers.send_in_task, bot_pks)


def run_read_answers(probe_pks: list[int]) -> None:
    run_on_probe_threads(answers.read_in_task, probe_pks)


_probe_threads: ThreadPoolExecutor | None = None


def run_on_probe_threads(work: Callable[[list[int]], None], pks: list[int]) -> None:
    """In a worker: on its probe threads, after the probe work handed over before; elsewhere (eager
    tasks, a shell): here and now."""
    pool = _probe_threads
    if pool is None:
        work(pks)
    else:
        pool.submit(probe_work, work, pks)


def probe_work(work: Callable[[list[int]], None], pks: list[int]) -> None:
    # A thread of our own: Celery's Django fixup does not close its connections; this does.
    close_old_connections()
    try:
        work(pks)
    except Exception:
        log.exception("answer probe work %s failed", work.__name__)
    finally:
        close_old_connections()


dispatch_due = shared_task(name="checks.engine.tasks.dispatch_due", **DISPATCH_OPTIONS)(run_dispatch_due)
verify_portal_task = shared_task(name=dispatch.VERIFY_TASK, **VERIFY_OPTIONS)(run_verify_portal)
prune_history = shared_task(name="checks.engine.tasks.prune_history", **PRUNE_OPTIONS)(run_prune_history)
send_answer_probes = shared_task(name=answers.SEND_TASK, **ANSWER_OPTIONS)(run_send_answer_probes)
read_answers = shared_task(name=answers.READ_TASK, **ANSWER_OPTIONS)(run_read_answers)

# The names these tasks had before they moved into checks.engine (a module checks.tasks): a
# message queued under one before an upgrade is run by the same function.
shared_task(name="checks.tasks.dispatch_due", **DISPATCH_OPTIONS)(run_dispatch_due)
shared_task(name="checks.tasks.verify_portal", **VERIFY_OPTIONS)(run_verify_portal)
shared_task(name="checks.tasks.prune_history", **PRUNE_OPTIONS)(run_prune_history)


class ProcessHeartbeat(threading.Thread):
    """Touches a Heartbeat row while this process runs, busy or idle.

    "worker:<hostname>" for each worker, "scheduler:<hostname>" for beat. Beside them,
    "beat" is touched by every tick a worker processes (checks.engine.dispatch), so /healthz
    can tell a dead beat from a dead broker or dead workers.
    """

    def __init__(self, name: str, capacity: int | None = None):
        super().__init__(name="botwatch-heartbeat", daemon=True)
        self.heartbeat_name = name
        self.capacity = capacity
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                heartbeats.touch_heartbeat(self.heartbeat_name, capacity=self.capacity)
            except Exception:
                # A database outage must not kill the thread: the heartbeat resumes with it.
                log.exception("worker heartbeat failed")
            self.stopped.wait(WORKER_HEARTBEAT_EVERY)


_heartbeat: ProcessHeartbeat | None = None


def verify_capacity(consumer) -> int:
    """Verifications this worker runs at once: its pool but the reserved threads; 0 without the verify queue.
    Probe work takes none of the pool's threads (run_on_probe_threads), so it needs no share here."""
    consumed = consumer.app.amqp.queues.consume_from if consumer is not None else {}
    if "verify" not in consumed:
        return 0
    concurrency = getattr(consumer.controller, "concurrency", None) or settings.CELERY_WORKER_CONCURRENCY
    return max(1, concurrency - settings.BOTWATCH_RESERVED_THREADS)


def consumes_probes(consumer) -> bool:
    return consumer is not None and "probes" in consumer.app.amqp.queues.consume_from


@worker_ready.connect
def start_worker_heartbeat(sender=None, **kwargs) -> None:
    """sender: the worker's Consumer (celery.apps.worker.Worker.on_consumer_ready)."""
    global _heartbeat, _probe_threads
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    if consumes_probes(sender):
        _probe_threads = ThreadPoolExecutor(settings.BOTWATCH_PROBE_THREADS, thread_name_prefix="botwatch-probe")
    _heartbeat = ProcessHeartbeat(f"{heartbeats.WORKER}{hostname}", capacity=verify_capacity(sender))
    _heartbeat.start()


@beat_init.connect
def start_beat_heartbeat(sender=None, **kwargs) -> None:
    global _heartbeat
    _heartbeat = ProcessHeartbeat(f"scheduler:{socket.gethostname()}")
    _heartbeat.start()


@worker_shutdown.connect
def stop_worker_heartbeat(**kwargs) -> None:
    if _heartbeat is not None:
        _heartbeat.stopped.set()
    if _probe_threads is not None:
        # The calls under way end (each within BITRIX24_TIMEOUT); probe work not begun is dropped.
        _probe_threads.shutdown(wait=True, cancel_futures=True)
