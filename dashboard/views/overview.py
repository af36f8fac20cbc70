"""The overview: counts by status, open incidents, every portal's bots; re-fetched by htmx."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Window
from django.db.models.aggregates import Max
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy

from checks.history.lists import counters_before, recent_beats
from checks.models import Bot, CredentialWarning, Incident, Portal
from checks.status import PORTAL_DOWN, PORTAL_FAILURES, BotState
from dashboard.views.common import BOT_LIST_FIELDS, checks_banner, portal_search, severity_case

PAGE_SIZE = 50  # a screenful and a half at 1280 px; "worst first" puts problems on page 1

SORTS = {
    "portal": ("portal__name", "code", "bot_id"),
    # Portals worst first (a portal down, then the portal of the worst bot), each with its bots worst first.
    "status": ("-portal_worst", "portal__name", "-severity", "code"),
    "code": ("code", "bot_id", "portal__name"),
    "checked": ("-last_checked_at", "portal__name", "code"),
    "latency": ("-last_duration_ms", "portal__name", "code"),
    "since": ("-status_since", "portal__name", "code"),
}
GROUPED_SORTS = ("portal", "status")  # the sorts that show each portal's row above its bots
STATUS_FILTERS = [*BotState.values, "problems", "portal_down"]
SORT_LABELS = {
    "portal": gettext_lazy("Portal"),
    "status": gettext_lazy("Worst status first"),
    "code": gettext_lazy("Bot code"),
    "checked": gettext_lazy("Last checked"),
    "latency": gettext_lazy("Slowest first"),
    "since": gettext_lazy("Most recent change"),
}


def _portal_severity():
    # A failing portal ranks by its own status, like a bot: a portal that is only rate-limited
    # stays below a bot that is gone.
    return severity_case("portal__status")


def _filters(request: HttpRequest) -> dict:
    params = request.GET
    sort = params.get("sort", "portal")
    return {
        "status": params.get("status", "") if params.get("status", "") in STATUS_FILTERS else "",
        "portal": params.get("portal", ""),
        "tag": params.get("tag", "").strip(),
        "q": params.get("q", "").strip(),
        "sort": sort if sort in SORTS else "portal",
    }


def _bots(filters: dict):
    bots = Bot.objects.select_related("portal").only(*BOT_LIST_FIELDS).annotate(severity=severity_case())
    if filters["sort"] == "status":
        worst_bot = Window(Max(severity_case()), partition_by=[F("portal_id")])
        bots = bots.annotate(portal_worst=Greatest(_portal_severity(), worst_bot))
    if filters["status"] == "problems":
        bots = bots.exclude(status__in=[BotState.OK, BotState.PENDING])
    elif filters["status"] == "portal_down":
        bots = bots.filter(portal__status__in=PORTAL_DOWN)
    elif filters["status"]:
        bots = bots.filter(status=filters["status"])
    if filters["portal"]:
        bots = bots.filter(portal__name=filters["portal"])
    if filters["tag"]:
        bots = bots.filter(portal__tags__contains=[filters["tag"]])
    if filters["q"]:
        q = filters["q"]
        match = Q(code__icontains=q) | portal_search(q)
        if q.lstrip("#").isdigit():
            match |= Q(bot_id=int(q.lstrip("#")))
        bots = bots.filter(match)
    return bots.order_by(*SORTS[filters["sort"]])


def _status_counts() -> list[dict]:
    counts = dict(Bot.objects.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return [{"value": s.value, "label": s.label, "n": counts.get(s.value, 0)} for s in BotState if counts.get(s.value)]


def _portals_down() -> dict:
    """Portals down, as the Alerts page counts them: an open portal incident of a down status (a
    rate-limited portal is busy, not down), with how many bots they hold: "3 portals down (41 bots)".
    A portal failing but still under its alert threshold is counted apart."""
    open_incident = Exists(
        Incident.objects.filter(portal=OuterRef("pk"), kind=Incident.Kind.PORTAL, state=Incident.State.OPEN)
    )
    rows = list(
        # A paused portal is not checked: its last status is history, not an outage.
        Portal.objects.filter(status__in=PORTAL_DOWN, paused=False)
        .annotate(n=Count("bots", filter=Q(bots__enabled=True)), alerted=open_incident)
        .values_list("n", "alerted")
    )
    down = [n for n, alerted in rows if alerted]
    return {"portals": len(down), "bots": sum(down), "failing": len(rows) - len(down)}


def _open_incidents() -> list[Incident]:
    # A wave's parts are shown in their wave (the Alerts page), not one by one.
    parts = Incident.objects.filter(wave=OuterRef("pk")).order_by().values("wave").annotate(n=Count("pk")).values("n")
    return list(
        Incident.objects.filter(state=Incident.State.OPEN, wave__isnull=True)
        .select_related("bot", "portal")
        .only(
            "id",
            "kind",
            "wave_code",
            "status",
            "last_status",
            "error_code",
            "started_at",
            "acknowledged_at",
            "bot__code",
            "bot__bot_id",
            "bot__portal_id",
            "portal__name",
        )
        .annotate(n_parts=Coalesce(Subquery(parts, output_field=IntegerField()), 0), rank=severity_case("last_status"))
        # As on the Alerts page: worst status first, then the longest-failing.
        .order_by("-rank", "started_at")[:20]
    )


def _rows(page_bots: list[Bot], now) -> list[dict]:
    beats = recent_beats(page_bots)
    before = counters_before(page_bots, now - timedelta(hours=24))
    return [{"bot": bot, "beats": beats.get(bot.pk, []), "before": before.get(bot.pk, {})} for bot in page_bots]


def _overview_ctx(request: HttpRequest) -> dict:
    now = timezone.now()
    filters = _filters(request)
    counts = _status_counts()
    total = sum(c["n"] for c in counts)
    paginator = Paginator(_bots(filters), PAGE_SIZE)
    if not (filters["status"] or filters["portal"] or filters["tag"] or filters["q"]):
        paginator.count = total  # known already: saves a COUNT(*) over every bot
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "now": now,
        "filters": filters,
        "sorts": SORT_LABELS,
        "states": BotState.choices,
        "portal_names": Portal.objects.values_list("name", flat=True),
        "tags": sorted({t for tags in Portal.objects.exclude(tags=[]).values_list("tags", flat=True) for t in tags}),
        # Every portal shows up: those without bots would otherwise be invisible here.
        # NOT EXISTS probes the bots' portal index per portal; the LEFT JOIN form read every bot.
        "empty_portals": Portal.objects.filter(~Exists(Bot.objects.filter(portal=OuterRef("pk"))))
        .values_list("id", "name")
        .order_by("name")[:50],
        "counts": counts,
        "credential_warnings": CredentialWarning.objects.count(),
        "total": total,
        "portals_down": _portals_down(),
        "grouped": filters["sort"] in GROUPED_SORTS,
        "portal_failures": [str(status) for status in PORTAL_FAILURES],
        "open_incidents": _open_incidents(),
        "page": page,
        "rows": _rows(list(page.object_list), now),
        "query": query.urlencode(),
        "banner": checks_banner(now),
        "poll_seconds": getattr(settings, "DASHBOARD_POLL_SECONDS", 10),
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    ctx = _overview_ctx(request)
    if request.htmx:
        return render(request, "dashboard/_overview_live.html", ctx)
    return render(request, "dashboard/overview.html", ctx)
