"""What the API views share: cursor pagination, and finding a portal by name or a bot by its key.

Pages are `{"results": [...], "next": URL or null, "previous": URL or null}`. A cursor stays
right while rows are added or change status between pages (offsets would skip or repeat
bots). `limit` sets the page size, 100 by default, 1,000 at most.
"""

from django.shortcuts import get_object_or_404
from rest_framework.pagination import CursorPagination

from checks.models import Bot, Portal
from dashboard.views.common import PORTAL_SECRETS, RELATED_PORTAL_SECRETS


class Cursor(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "pk"


class ByName(Cursor):
    ordering = "name"


class NewestFirst(Cursor):
    ordering = ("-checked_at", "-pk")


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
