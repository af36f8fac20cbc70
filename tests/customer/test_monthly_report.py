"""The monthly report: its content, the command (HTML and PDF), the email once per portal and month, the opt-out."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from checks.customer import links, monthly, report
from checks.models import AnswerProbe, Incident, Notification, Portal
from checks.portal_file.load import import_portal_file
from checks.status import Status
from tests.fixtures.dashboard import make_portal

pytestmark = pytest.mark.django_db

NOV = report.Month.parse("2026-11")


def at(day: int, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(2026, 11, day, hour))


@pytest.fixture
def acme():
    portal = make_portal("acme", n_bots=2, customer_name="ACME GmbH", customer_contacts=["it@acme.example"])
    bot = portal.bots.get(code="bot_1")
    ada = get_user_model().objects.create_user("ada", first_name="Ada", last_name="L")
    Incident.objects.create(
        bot=bot, portal=portal, status=Status.NOT_FOUND, last_status=Status.NOT_FOUND, state="resolved",
        started_at=at(3), opened_at=at(3), resolved_at=at(3, 14), acknowledged_by=ada, error_code="BOT_NOT_FOUND",
    )  # fmt: skip
    Incident.objects.create(
        kind="portal", portal=portal, status=Status.UNREACHABLE, last_status=Status.UNREACHABLE, state="resolved",
        started_at=at(9), opened_at=at(9), resolved_at=at(9, 12) + timedelta(minutes=30),
    )  # fmt: skip
    # October's incident stays out of November's report.
    Incident.objects.create(
        bot=bot, portal=portal, status=Status.SERVER_ERROR, last_status=Status.SERVER_ERROR, state="resolved",
        started_at=at(1) - timedelta(days=10), resolved_at=at(1) - timedelta(days=9),
    )  # fmt: skip
    return portal


def test_the_report_keeps_the_portals_outages_apart_from_the_bots(acme):
    built = report.build(acme, NOV)
    assert [(i.subject, i.acknowledged_by, i.duration) for i in built.bot_incidents] == [
        ("bot_1", "Ada L", timedelta(hours=2))
    ]
    assert [(i.cause, i.duration) for i in built.portal_outages] == [("The portal", timedelta(minutes=30))]
    html = report.render_html(built)
    assert "Outages of the portal itself" in html and "2 h" in html and "30 min" in html
    assert "BOT_NOT_FOUND" not in html and "s3cret" not in html


def test_the_command_writes_html_or_a_pdf_and_refuses_a_bad_month(acme, tmp_path):
    call_command("monthly_report", "--portal", "acme", "--month", "2026-11", "-o", str(tmp_path / "r.html"))
    assert "Monthly report for ACME GmbH, 2026-11" in (tmp_path / "r.html").read_text()
    call_command("monthly_report", "--portal", "acme", "--month", "2026-11", "-o", str(tmp_path / "r.pdf"))
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    with pytest.raises(CommandError, match="month must be YYYY-MM"):
        call_command("monthly_report", "--portal", "acme", "--month", "11/2026")
    with pytest.raises(CommandError, match="no portal named 'nope'"):
        call_command("monthly_report", "--portal", "nope", "--month", "2026-11")


def test_the_email_goes_once_per_portal_and_month_to_the_customer(acme):
    make_portal("globex", n_bots=1, url="https://globex.example.com", customer_contacts=["x@globex.example"],
                monthly_report=False)  # fmt: skip
    make_portal("hooli", n_bots=1, url="https://hooli.example.com")  # no contacts
    first_of_december = timezone.make_aware(datetime(2026, 12, 1, 6))
    sent = monthly.send_monthly_reports(first_of_december, inline=True)
    again = monthly.send_monthly_reports(first_of_december + timedelta(hours=1), inline=True)
    assert len(sent) == 1 and again == []
    assert [(m.to, m.subject) for m in mail.outbox] == [(["it@acme.example"], "Monthly report for ACME GmbH, 2026-11")]
    assert Notification.objects.get().key == f"report:{acme.pk}:2026-11"


def test_the_email_is_in_the_portals_language(acme):
    Portal.objects.filter(pk=acme.pk).update(language="ru")
    monthly.send_monthly_reports(timezone.make_aware(datetime(2026, 12, 1, 6)), inline=True)
    assert mail.outbox[0].subject == "Ежемесячный отчёт: ACME GmbH, 2026-11"


def test_the_portal_file_carries_the_opt_out_and_the_language(db):
    text = (
        "portals:\n  - name: acme\n    url: https://acme.example.com\n    webhook: {user_id: 1, code: k}\n"
        "    language: ru\n    monthly_report: false\n"
    )
    import_portal_file(text)
    portal = Portal.objects.get(name="acme")
    assert (portal.language, portal.monthly_report) == ("ru", False)
    with pytest.raises(Exception, match="monthly_report must be true or false"):
        import_portal_file(text.replace("monthly_report: false", "monthly_report: sometimes"))
    with pytest.raises(Exception, match="language: must be one of en, ru"):
        import_portal_file(text.replace("language: ru", "language: de"))


def probe(bot, sent_at: datetime, ms: int | None) -> AnswerProbe:
    outcome = AnswerProbe.Outcome.ANSWERED if ms is not None else AnswerProbe.Outcome.NO_ANSWER
    deadline = sent_at + timedelta(seconds=30)
    return AnswerProbe.objects.create(
        bot=bot, sent_at=sent_at, dialog="1", text="/ping", deadline=deadline, outcome=outcome, answer_ms=ms
    )


def test_the_report_and_the_status_page_give_the_answer_times_of_probed_bots(acme, client):
    probed = acme.bots.get(code="bot_0")
    for day, ms in ((2, 800), (4, 1200), (5, 2600), (6, None)):
        probe(probed, at(day), ms)
    probe(probed, at(1) - timedelta(days=3), 9000)  # October: not this report's
    html = report.render_html(report.build(acme, NOV))
    assert "answers in 1.2 s (95 % within 2.6 s); 1 of 4 test messages unanswered" in html
    assert html.count("answers in") == 1  # bot_1 was never probed: no figure for it

    Portal.objects.filter(pk=acme.pk).update(language="ru")
    acme.refresh_from_db()
    assert "отвечает за 1.2 с" in report.render_html(report.build(acme, NOV))  # noqa: RUF001

    now = timezone.now()
    probe(probed, now - timedelta(hours=1), 1500)
    Portal.objects.filter(pk=acme.pk).update(language="en")
    token = links.issue(acme)
    page = client.get(f"/status/{token}/").content.decode()
    assert "answers in 1.5 s (95 % within 1.5 s)" in page and page.count("answers in") == 1
