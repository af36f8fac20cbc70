"""The account page and alert subscriptions: any role subscribes itself, and the alerts then reach it."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from checks.alerts.messages import recipients_for
from checks.models import AuditLog, Subscription
from checks.status import Status
from tests.alerts import helpers as alert_helpers
from tests.alerts.helpers import T0, make_bot, minutes, sweep
from tests.fixtures.browser import DESKTOP, PHONE, log_in
from tests.fixtures.dashboard import PASSWORD, make_portal

pytestmark = pytest.mark.django_db

ACCOUNT = "/account/"


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def portal_page(client, portal) -> str:
    return client.get(reverse("dashboard:portal-detail", args=[portal.pk])).content.decode()


def subscribe(client, portal, on: bool, next: str = "", follow: bool = False):
    data = {"subscribed": "1" if on else "0", **({"next": next} if next else {})}
    return client.post(reverse("dashboard:portal-subscribe", args=[portal.pk]), data, follow=follow)


def every_portal(client, on: bool, **kwargs):
    return client.post(reverse("dashboard:subscribe-every-portal"), {"subscribed": "1" if on else "0"}, **kwargs)


def test_account_url_is_named_and_linked_from_the_header(viewer_client):
    assert reverse("dashboard:account") == ACCOUNT
    body = viewer_client.get(reverse("dashboard:overview")).content.decode()
    assert f'href="{ACCOUNT}"' in body and "vera" in body
    page = viewer_client.get(ACCOUNT).content.decode()
    assert 'aria-current="page"' in page and "vera@example.com" in page
    assert f'href="{reverse("password_change")}"' in page


def test_viewer_subscribes_and_unsubscribes_from_the_portal_page(viewer_client, viewer):
    portal = make_portal("acme", n_bots=1)
    body = portal_page(viewer_client, portal)
    assert "Email me this portal's alerts" in body and "Emailing you" not in body

    response = subscribe(viewer_client, portal, True)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:portal-detail", args=[portal.pk])
    assert list(Subscription.objects.values_list("user__username", "portal__name")) == [("vera", "acme")]
    body = portal_page(viewer_client, portal)
    assert "Stop emailing me" in body and "Emailing you" in body and "+ you (vera@example.com)" in body
    assert "are emailed to vera@example.com" in body  # the confirmation message

    subscribe(viewer_client, portal, False)
    assert not Subscription.objects.exists()
    assert "Email me this portal's alerts" in portal_page(viewer_client, portal)
    log = list(AuditLog.objects.order_by("at", "id").values_list("actor", "action", "object_type", "object_repr"))
    assert log == [("vera", "subscribe", "portal", "acme"), ("vera", "unsubscribe", "portal", "acme")]


def test_a_second_click_keeps_one_subscription_and_one_audit_entry(viewer_client):
    portal = make_portal("acme", n_bots=0)
    subscribe(viewer_client, portal, True)
    subscribe(viewer_client, portal, True)
    assert Subscription.objects.count() == 1
    assert AuditLog.objects.filter(action="subscribe").count() == 1
    subscribe(viewer_client, portal, False)
    subscribe(viewer_client, portal, False)
    assert AuditLog.objects.filter(action="unsubscribe").count() == 1


def test_subscriptions_are_per_user(client, viewer, operator):
    portal = make_portal("acme", n_bots=0)
    client.force_login(viewer)
    subscribe(client, portal, True)
    client.force_login(operator)
    assert "Stop emailing me" not in portal_page(client, portal)
    subscribe(client, portal, False)  # the operator unsubscribes themselves, not the viewer
    assert list(Subscription.objects.values_list("user__username", flat=True)) == ["vera"]


def test_account_page_lists_portals_and_unsubscribes_from_one(viewer_client):
    acme, globex = make_portal("acme", n_bots=0), make_portal("globex", n_bots=0, url="https://globex.example.com")
    make_portal("initech", n_bots=0, url="https://initech.example.com")
    subscribe(viewer_client, acme, True)
    subscribe(viewer_client, globex, True)
    body = viewer_client.get(ACCOUNT).content.decode()
    assert 'data-subscription="acme"' in body and 'data-subscription="globex"' in body
    assert 'data-subscription="initech"' not in body

    response = subscribe(viewer_client, acme, False, next=ACCOUNT)
    assert response.status_code == 302 and response["Location"] == ACCOUNT
    body = viewer_client.get(ACCOUNT).content.decode()
    assert 'data-subscription="acme"' not in body and 'data-subscription="globex"' in body
    assert "no longer get the alerts of acme" in body


def test_every_portal_toggle(viewer_client):
    portal = make_portal("acme", n_bots=0)
    body = viewer_client.get(ACCOUNT).content.decode()
    assert 'data-subscription="every-portal" data-state="off"' in body and "Turn on" in body

    response = every_portal(viewer_client, True)
    assert response.status_code == 302 and response["Location"] == ACCOUNT
    every_portal(viewer_client, True)  # twice: still one row
    assert list(Subscription.objects.values_list("portal", flat=True)) == [None]
    body = viewer_client.get(ACCOUNT).content.decode()
    assert 'data-state="on"' in body and "Turn off" in body
    assert "Emailing you: every portal" in portal_page(viewer_client, portal)

    every_portal(viewer_client, False)
    assert not Subscription.objects.exists()
    assert 'data-state="off"' in viewer_client.get(ACCOUNT).content.decode()
    actions = list(AuditLog.objects.order_by("at", "id").values_list("action", "object_repr"))
    assert actions == [("subscribe", "every portal"), ("unsubscribe", "every portal")]


def test_email_is_validated_and_saved(viewer_client, viewer):
    url = reverse("dashboard:account-email")
    response = viewer_client.post(url, {"email": "not an address"})
    assert response.status_code == 400
    assert "This is not an email address" in response.content.decode()
    assert 'value="not an address"' in response.content.decode()  # what was typed stays in the field
    viewer.refresh_from_db()
    assert viewer.email == "vera@example.com" and not AuditLog.objects.exists()

    response = viewer_client.post(url, {"email": "x" * 250 + "@example.com"})
    assert response.status_code == 400 and "at most 254 characters" in response.content.decode()

    response = viewer_client.post(url, {"email": " Vera.Oncall@Example.COM "})
    assert response.status_code == 302 and response["Location"] == ACCOUNT
    viewer.refresh_from_db()
    assert viewer.email == "Vera.Oncall@example.com"  # trimmed, domain lower-cased
    entry = AuditLog.objects.get()
    assert (entry.action, entry.changes) == ("change email", {"email": ["vera@example.com", viewer.email]})


def test_without_an_email_the_page_says_so_and_subscribing_is_refused(viewer_client, viewer):
    portal = make_portal("acme", n_bots=0)
    subscribe(viewer_client, portal, True)
    response = viewer_client.post(reverse("dashboard:account-email"), {"email": ""})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.email == ""
    body = viewer_client.get(ACCOUNT).content.decode()
    assert "subscriptions need one" in body and "although you subscribed below" in body
    assert "Subscribed, no email address" in portal_page(viewer_client, portal)

    Subscription.objects.all().delete()
    response = subscribe(viewer_client, portal, True, follow=True)
    assert response.redirect_chain[-1][0] == ACCOUNT
    assert "Alert emails need an email address" in response.content.decode()
    response = every_portal(viewer_client, True, follow=True)
    assert "Alert emails need an email address" in response.content.decode()
    assert not Subscription.objects.exists()


def test_anonymous_visitor_is_sent_to_log_in(client):
    portal = make_portal("acme", n_bots=0)
    posts = [
        (reverse("dashboard:portal-subscribe", args=[portal.pk]), {"subscribed": "1"}),
        (reverse("dashboard:subscribe-every-portal"), {"subscribed": "1"}),
        (reverse("dashboard:account-email"), {"email": "evil@example.com"}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
    response = client.get(ACCOUNT)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={ACCOUNT}"
    assert not Subscription.objects.exists()


def test_writes_need_post(viewer_client):
    portal = make_portal("acme", n_bots=0)
    for url in (
        reverse("dashboard:portal-subscribe", args=[portal.pk]),
        reverse("dashboard:subscribe-every-portal"),
        reverse("dashboard:account-email"),
    ):
        assert viewer_client.get(url).status_code == 405, url
    assert (
        viewer_client.post(reverse("dashboard:portal-subscribe", args=[999999]), {"subscribed": "1"}).status_code == 404
    )
    assert not Subscription.objects.exists()


def test_after_subscribing_the_alert_is_addressed_to_the_user(viewer_client, viewer, smtp_sink):
    watched = alert_helpers.make_portal("acme")  # its own list: support@example.com
    other = alert_helpers.make_portal("globex")
    bots = [make_bot(watched), make_bot(other)]
    subscribe(viewer_client, watched, True)
    sweep(bots, Status.OK, T0)
    sweep(bots, Status.NOT_FOUND, T0 + minutes(5))

    smtp_sink.wait_for(2)
    sent = {m["Subject"]: rcpts for m, (_, rcpts) in zip(smtp_sink.messages, smtp_sink.envelopes, strict=True)}
    assert sorted(sent["[BotWatch] BOT_NOT_FOUND: support_bot on acme"]) == ["support@example.com", "vera@example.com"]
    assert sent["[BotWatch] BOT_NOT_FOUND: support_bot on globex"] == ["support@example.com"]

    # Every portal: the other portal's alerts reach the user too; unsubscribing stops them.
    every_portal(viewer_client, True)
    assert recipients_for(other) == ["support@example.com", "vera@example.com"]
    every_portal(viewer_client, False)
    subscribe(viewer_client, watched, False)
    assert recipients_for(watched) == ["support@example.com"]


@pytest.mark.browser
def test_in_the_browser_a_viewer_subscribes_then_unsubscribes_on_the_account_page(page, live_server, viewer):
    portal = make_portal("acme", n_bots=1)
    log_in(page, live_server, "vera", PASSWORD)
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}/portals/{portal.pk}/")
        page.click("button:has-text('Email me this portal')")
        expect(page.locator(".msg-success")).to_contain_text("are emailed to vera@example.com")
        expect(page.locator(".badge.s-ok")).to_have_text("✉ Emailing you")
        page.click("header >> text=Account")
        expect(page.locator("h1")).to_contain_text("Your account")
        row = page.locator('li[data-subscription="acme"]')
        expect(row).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the account page is {overflow}px wider than {viewport['width']}px"
        row.locator("button:has-text('Unsubscribe')").click()
        expect(page).to_have_url(f"{live_server.url}{ACCOUNT}")
        expect(page.locator('li[data-subscription="acme"]')).to_have_count(0)
        assert not Subscription.objects.exists()
