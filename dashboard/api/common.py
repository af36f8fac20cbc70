"""What the API views share: cursor pagination, and finding a portal by name or a bot by its key.

Pages are `{"results": [...], "next": URL or null, "previous": URL or null}`. A cursor stays
right while rows are added or change status between pages (offsets would skip or repeat
bots). `limit` sets the page size, 100 by default, 1,000 at most.
"""

import base64
import binascii
from datetime import datetime

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from checks.history.read import history
from checks.models import Bot, Portal
from dashboard.views.common import PORTAL_SECRETS, RELATED_PORTAL_SECRETS


class Cursor(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "pk"


class ByName(Cursor):
    ordering = "name"


class NewestProbeFirst(Cursor):
    ordering = ("-sent_at", "-pk")


class NewestIncidentFirst(Cursor):
    ordering = ("-opened_at", "-pk")


def get_portal(name: str) -> Portal:
    return get_object_or_404(Portal.objects.defer(*PORTAL_SECRETS), name=name)


def bot_rows():
    """Bots with their portal's name at hand; no secret is loaded (decrypting thousands is slow)."""
    return Bot.objects.select_related("portal").defer("bot_token", *RELATED_PORTAL_SECRETS)


def find_bot(portal: Portal, key: str) -> Bot:
    """A bot by its code, else (digits) by its id: the `bot` of the API's answers and of `verify --json`."""
    bots = bot_rows()
    found = bots.filter(portal=portal, code=key).first()
    if found is None and key.isdigit():
        found = bots.filter(portal=portal, bot_id=int(key)).first()
    if found is None:
        found = get_object_or_404(bots.none())
    return found


class HistoryPages:
    """Cursor pages over a bot's history (checks.history.read.history: every check kept raw, then the
    changes kept from before), newest first, in the same shape as the other pages. A cursor is the
    time a page ends at (the next page has the older rows) or starts at (the previous one)."""

    def __init__(self, request):
        self.request = request
        self.limit = Cursor().get_page_size(request)

    def respond(self, bot_id: int, status: str | list[str], serializer) -> Response:
        kind, moment = self._cursor()
        if kind == "after":
            rows = history(bot_id, status, after=moment)
            total = rows.count()
            page = rows[max(0, total - self.limit) : total]
            older, newer = True, total > self.limit
        else:
            page = history(bot_id, status, before=moment)[: self.limit + 1]
            older, newer = len(page) > self.limit, moment is not None
            page = page[: self.limit]
        return Response(
            {
                "next": self._link("before", page[-1].checked_at) if page and older else None,
                "previous": self._link("after", page[0].checked_at) if page and newer else None,
                "results": serializer(page, many=True).data,
            }
        )

    def _cursor(self) -> tuple[str, datetime | None]:
        raw = self.request.query_params.get("cursor")
        if not raw:
            return "before", None
        try:
            kind, _, when = base64.urlsafe_b64decode(raw.encode()).decode().partition(" ")
            moment = datetime.fromisoformat(when)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise NotFound("Invalid cursor") from exc
        if kind not in ("before", "after") or moment.tzinfo is None:
            raise NotFound("Invalid cursor")
        return kind, moment

    def _link(self, kind: str, moment: datetime) -> str:
        token = base64.urlsafe_b64encode(f"{kind} {moment.isoformat()}".encode()).decode()
        return replace_query_param(self.request.build_absolute_uri(), "cursor", token)
