"""The monthly report through a real `celery worker` on Redis and PostgreSQL and a real SMTP server:
the task run twice on the 1st sends one email per portal and month."""

import re
import socket

import pytest

from checks.customer.tasks import send_monthly_reports
from checks.models import Notification
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.dashboard import make_portal

pytestmark = [pytest.mark.slow]

FIRST_OF_DECEMBER = "2026-12-01T06:00:00+00:00"


def test_the_report_is_sent_once_per_portal_and_month_when_the_task_runs_twice(celery_procs, smtp_sink):
    make_portal("acme", n_bots=2, customer_name="ACME GmbH", customer_contacts=["it@acme.example"])
    make_portal("globex", n_bots=1, url="https://globex.example.com", customer_contacts=["it@globex.example"])
    make_portal("hooli", n_bots=1, url="https://hooli.example.com", customer_contacts=["x@hooli.example"],
                monthly_report=False)  # fmt: skip
    celery_procs.env.update(smtp_sink.env)
    celery_procs.start_worker("w1", concurrency=4, wait=False)
    celery_procs.wait_ready(f"worker:w1@{socket.gethostname()}", "w1")

    send_monthly_reports.delay(FIRST_OF_DECEMBER)
    send_monthly_reports.delay(FIRST_OF_DECEMBER)
    # Both runs finished: each logs what it queued. They may run at the same time and each queue one
    # portal, but together never more than the two portals' reports.
    wait_for(lambda: celery_procs.log("w1").count("monthly reports for 2026-11") == 2, 60, "both runs")
    queued = re.findall(r"monthly reports for 2026-11: (\d+) queued", celery_procs.log("w1"))
    assert sum(map(int, queued)) == 2
    wait_for(lambda: Notification.objects.filter(state="sent").count() == 2, 30, "the two emails sent")

    assert Notification.objects.count() == 2
    assert sorted((m["To"], m["Subject"]) for m in smtp_sink.messages) == [
        ("it@acme.example", "Monthly report for ACME GmbH, 2026-11"),
        ("it@globex.example", "Monthly report for globex, 2026-11"),
    ]
    html = smtp_sink.messages[0].get_body(("html",)).get_content()
    assert "Uptime per bot" in html and "s3cret" not in html
