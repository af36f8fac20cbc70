"""Each kind of alert email, rendered from fixed data and compared with its reviewed snapshot
under tests/alerts/snapshots/emails/ (text, HTML, and a PNG of the HTML in headless Chromium).

After a deliberate change to the emails: `UPDATE_SNAPSHOTS=1 pytest tests/alerts/test_alerts_snapshots.py`,
then look at the PNGs and the diff before committing them.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.alerts.messages import AlertItem, render_email
from checks.models import Bot, Incident, IncidentEvent, Portal
from checks.status import Status

SNAPSHOTS = Path(__file__).parent / "snapshots" / "emails"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
Kind = IncidentEvent.Kind

pytestmark = pytest.mark.django_db


def portal() -> Portal:
    return Portal(pk=3, name="acme", url="https://acme.bitrix24.com", webhook_user_id=1)


def bot(pk: int, code: str, counters: bool = True) -> Bot:
    values = {"count_message": 150, "count_command": 3, "count_chat": 12, "count_user": 45} if counters else {}
    return Bot(pk=pk, portal=portal(), code=code, last_ok_at=T0 - timedelta(minutes=5), **values)


def incident(pk: int, b: Bot, status: Status, code: str, description: str, http: int | None, **kwargs) -> Incident:
    return Incident(
        pk=pk,
        bot=b,
        portal=b.portal,
        status=kwargs.pop("worst", status),
        last_status=status,
        error_code=code,
        error_description=description,
        http_status=http,
        started_at=T0,
        opened_at=T0,
        **kwargs,
    )


def item(inc: Incident, kind: str, at: datetime, **kwargs) -> AlertItem:
    event = IncidentEvent(incident=inc, kind=kind, status=inc.last_status, created_at=at)
    return AlertItem(event, inc, inc.bot, **kwargs)


def not_found(pk: int = 10, code: str = "support_bot") -> Incident:
    return incident(pk, bot(40 + pk, code), Status.NOT_FOUND, "BOT_NOT_FOUND", "Bot not found", 400)


def cases() -> dict[str, tuple[str, list[AlertItem]]]:
    grouped = [not_found(10 + i, code) for i, code in enumerate(["support_bot", "sales_bot", "hr_bot"])]
    resolved = not_found()
    resolved.state, resolved.resolved_at = Incident.State.RESOLVED, T0 + timedelta(hours=2, minutes=5)
    resolved.bot.last_ok_at = resolved.resolved_at
    return {
        "opened": ("opened", [item(not_found(), Kind.OPENED, T0)]),
        "opened_grouped": ("opened", [item(i, Kind.OPENED, T0) for i in grouped]),
        "opened_not_owner": (
            "opened",
            [
                item(
                    incident(11, bot(51, "support_bot"), Status.NOT_OWNER, "", "", 200),
                    Kind.OPENED,
                    T0 + timedelta(minutes=5),
                )
            ],
        ),
        "escalated": (
            "escalated",
            [
                item(
                    not_found(),
                    Kind.ESCALATED,
                    T0 + timedelta(minutes=20),
                    previous_status=Status.RATE_LIMITED,
                    previous_code="QUERY_LIMIT_EXCEEDED",
                )
            ],
        ),
        "reminder": ("reminder", [item(not_found(), Kind.REMINDER, T0 + timedelta(hours=24))]),
        "resolved": ("resolved", [item(resolved, Kind.RESOLVED, resolved.resolved_at)]),
    }


@pytest.mark.parametrize("name", ["opened", "opened_grouped", "opened_not_owner", "escalated", "reminder", "resolved"])
def test_email_matches_its_reviewed_snapshot(name, settings):
    settings.SITE_URL = "https://botwatch.example.com"
    settings.BOTWATCH_REMINDER_HOURS = 24
    kind, items = cases()[name]
    email = render_email(kind, portal(), items)
    rendered = {"txt": f"Subject: {email.subject}\n\n{email.text}", "html": email.html}
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        for ext, content in rendered.items():
            (SNAPSHOTS / f"{name}.{ext}").write_text(content)
        render_png(SNAPSHOTS / f"{name}.html")
    for ext, content in rendered.items():
        path = SNAPSHOTS / f"{name}.{ext}"
        assert path.exists(), f"{path} is missing: run with UPDATE_SNAPSHOTS=1 and review it"
        assert content == path.read_text(), f"{name}.{ext} differs from its snapshot"


def render_png(html_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 720, "height": 600})
        page.goto(html_path.as_uri())
        page.screenshot(path=str(html_path.with_suffix(".png")), full_page=True)
        browser.close()
