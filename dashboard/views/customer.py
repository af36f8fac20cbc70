"""What the customer sees: the status page and badges by link (no login), and the team's side of it:
the link's create, rotate and revoke on the portal page, and the monthly report as a page or a PDF.

The public views answer 404 for any token that is not a portal's live link, show one portal only,
are cached per link and language for BOTWATCH_STATUS_CACHE_SECONDS, and tell search engines and
referrers nothing (noindex, no-referrer).
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from checks.customer import badges, links, page, report
from checks.models import Portal
from dashboard.roles import Role, require_role
from dashboard.views.common import audit, get_portal

PUBLIC_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}
BADGE_MAX_AGE = 300
BADGE_DAYS = 30
LINK_ACTIONS = {"create", "rotate", "revoke"}


def _linked_portal(token: str) -> Portal:
    portal = links.find(token)
    if portal is None:
        raise Http404("No such status page.")
    return portal


def _public(response: HttpResponse) -> HttpResponse:
    for name, value in PUBLIC_HEADERS.items():
        response.headers[name] = value
    return response


def cache_key(portal: Portal) -> str:
    """Per link and language: a rotated link never serves the page cached under the old one."""
    return f"status-page:{portal.status_token_digest}:{portal.language}"


@require_GET
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    portal = _linked_portal(token)
    key = cache_key(portal)
    html = cache.get(key)
    if html is None:
        ctx = {**page.status_page(portal), "token": token}
        with translation.override(portal.language):
            html = render_to_string("customer/status.html", ctx, request=None)
        cache.set(key, html, settings.BOTWATCH_STATUS_CACHE_SECONDS)
    response = _public(HttpResponse(html))
    # Cached here, not in the browser: a revoked link must answer 404 at the next load.
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def _badge(label: str, lines: list[page.BotLine]) -> HttpResponse:
    tones = {line.tone for line in lines}
    tone = next((t for t in ("down", "warn", "unknown", "up") if t in tones), "unknown")
    checks = sum(d.checks for line in lines for d in line.days)
    uptime = sum(d.good for line in lines for d in line.days) / checks if checks else None
    svg = badges.badge(label, badges.message_for(tone, uptime), tone)
    response = _public(HttpResponse(svg, content_type="image/svg+xml; charset=utf-8"))
    response.headers["Cache-Control"] = f"max-age={BADGE_MAX_AGE}"
    return response


def _badge_lines(portal: Portal) -> list[page.BotLine]:
    today = timezone.localdate()
    return page.bot_lines(portal, today - timedelta(days=BADGE_DAYS - 1), today)


@require_GET
def portal_badge(request: HttpRequest, token: str) -> HttpResponse:
    portal = _linked_portal(token)
    return _badge(portal.name, _badge_lines(portal))


@require_GET
def bot_badge(request: HttpRequest, token: str, code: str) -> HttpResponse:
    portal = _linked_portal(token)
    lines = [line for line in _badge_lines(portal) if line.label == code]
    if not lines:
        raise Http404("No such bot.")
    return _badge(code, lines)


@login_required
@require_POST
def status_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Create, rotate or revoke the portal's status page link (admins: it shares the portal's state)."""
    require_role(request, Role.ADMIN)
    portal = get_portal(pk)
    action = request.POST.get("action", "")
    if action not in LINK_ACTIONS:
        messages.error(request, _("Choose create, rotate or revoke."))
    elif action == "revoke":
        if links.revoke(portal):
            audit(request, "revoke status link", portal)
        messages.success(
            request,
            _("%(name)s: the status page link is revoked; the old address answers 404.") % {"name": portal.name},
        )
    else:
        portal = Portal.objects.get(pk=pk)  # with its token, to know whether it has one
        if action == "rotate" or not portal.status_token_digest:
            links.issue(portal)
            audit(request, f"{action} status link", portal)
        done = (
            _("%(portal)s: status page link replaced.")
            if action == "rotate"
            else _("%(portal)s: status page link ready.")
        )
        messages.success(request, done % {"portal": portal.name})
    return redirect("dashboard:portal-detail", pk=pk)


def _report(pk: int, month: str) -> report.Report:
    try:
        parsed = report.Month.parse(month)
    except report.BadMonth as exc:
        raise Http404(str(exc)) from None
    return report.build(get_portal(pk), parsed)


@login_required
@require_GET
def report_page(request: HttpRequest, pk: int, month: str) -> HttpResponse:
    return HttpResponse(report.render_html(_report(pk, month)))


@login_required
@require_GET
def report_pdf(request: HttpRequest, pk: int, month: str) -> HttpResponse:
    built = _report(pk, month)
    response = HttpResponse(report.render_pdf(built), content_type="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{built.portal.name}-{built.month}.pdf"'
    return response
