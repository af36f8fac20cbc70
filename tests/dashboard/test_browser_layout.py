"""Every page at 1280 px and on a phone (390 px): nothing wider than the screen, status in words.

Set BOTWATCH_SCREENSHOT_DIR to keep the screenshots (docs/screenshots come from this test).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from checks.models import AuditLog, Bot, Heartbeat, Incident, MaintenanceWindow, Portal
from dashboard.roles import Role
from tests.fixtures.browser import DESKTOP, PHONE, log_in
from tests.fixtures.dashboard import PASSWORD, add_history, make_portal, make_user, open_incident

pytestmark = pytest.mark.browser


def seed_demo() -> dict:
    acme = make_portal("acme", n_bots=4)
    make_portal("globex", n_bots=3, url="https://globex.example.com")
    make_portal("initech", n_bots=0, url="https://initech.example.com", paused=True)
    for portal, names in (
        (acme, ["support_bot", "sales_bot", "hr_helper", "order_status"]),
        (Portal.objects.get(name="globex"), ["helpdesk", "billing_bot", "onboarding"]),
    ):
        for bot, code in zip(portal.bots.order_by("code"), names, strict=True):
            Bot.objects.filter(pk=bot.pk).update(code=code)
    bots = [acme.bots.get(code=code) for code in ("support_bot", "sales_bot", "hr_helper", "order_status")]
    for i, bot in enumerate(bots):
        add_history(bot, n=60, every=timedelta(minutes=30), fail_last=3 if i == 1 else 0)
    globex = list(Portal.objects.get(name="globex").bots.order_by("code"))
    add_history(globex[0], n=45, fail_last=0)
    add_history(globex[1], n=45, fail_last=1, fail_status="unreachable")
    incident = open_incident(bots[1])
    resolved = open_incident(bots[2])
    Incident.objects.filter(pk=resolved.pk).update(state="resolved", resolved_at=timezone.now())
    MaintenanceWindow.objects.create(
        portal=acme,
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1, hours=2),
        note="Bitrix24 upgrade",
    )
    Heartbeat.objects.create(name="beat")
    Heartbeat.objects.create(name="worker:web-1")
    AuditLog.objects.create(actor="ada", action="add portal", object_type="portal", object_repr="acme")
    return {"acme": acme, "bot": bots[1], "incident": incident}


def pages(data: dict) -> dict[str, str]:
    acme, bot = data["acme"], data["bot"]
    return {
        "overview": "/",
        "alerts": "/alerts/",
        "portals": "/portals/",
        "portal": f"/portals/{acme.pk}/",
        "bot": f"/bots/{bot.pk}/",
        "portal-edit": f"/portals/{acme.pk}/edit/",
        "portal-new": "/portals/new/",
        "portal-delete": f"/portals/{acme.pk}/delete/",
        "portal-file": "/portal-file/",
        "audit": "/audit/",
        "users": "/users/",
        "password": "/password/",
        "account": "/account/",
    }


def save_screens(page, stem: Path, screens: int = 3) -> None:
    """The first few screens of the page, one PNG each (full pages of history are too tall to read)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    view = page.viewport_size
    for i in range(min(screens, -(-height // view["height"]))):
        clip = {"x": 0, "y": i * view["height"], "width": view["width"], "height": view["height"]}
        suffix = "" if i == 0 else f"-{i + 1}"
        page.screenshot(path=f"{stem}{suffix}.png", clip=clip, full_page=True)


def test_every_page_fits_desktop_and_phone(page, live_server, db):
    data = seed_demo()
    make_user("ada", Role.ADMIN)
    log_in(page, live_server, "ada", PASSWORD)
    shots = Path(os.environ.get("BOTWATCH_SCREENSHOT_DIR", "")) if os.environ.get("BOTWATCH_SCREENSHOT_DIR") else None
    for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        for name, path in pages(data).items():
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px wider than a {viewport['width']}px screen"
            if shots:
                save_screens(page, shots / f"{name}-{width_name}")
    page.goto(live_server.url + "/logout/")
    page.click("button:has-text('Log out')")
    if shots:
        page.screenshot(path=str(shots / "login-phone.png"))
