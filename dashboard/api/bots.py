"""/api/v1/bots and a portal's bots: list with filters, read, add, change, delete; verification history."""

from django.db.models import TextField
from django.db.models.functions import Cast
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.health.bot import CHECKS
from checks.models import Bot
from checks.status import BotState, Status
from dashboard.api.common import Cursor, HistoryPages, NewestProbeFirst, bot_rows, find_bot, get_portal
from dashboard.api.serializers import (
    AnswerProbeSerializer,
    BotDetailSerializer,
    BotFileSerializer,
    BotSerializer,
    VerificationSerializer,
)
from dashboard.api.writes import save_bot
from dashboard.views.common import audit

TAGS = ["bots"]
BAD_INPUT = OpenApiResponse(description='Bad input: a message per field, e.g. {"bot_token": ["..."]}')
STATUS = OpenApiParameter("status", str, description="Only these statuses, comma-separated (ok,not_found,...)")
PORTAL = OpenApiParameter("portal", str, description="Only the bots of this portal (its name)")
PROBLEM = OpenApiParameter("problem", str, description=f"Only bots with this problem now: {', '.join(CHECKS)}")


def statuses(request, choices) -> list[str] | None:
    raw = request.query_params.get("status")
    if not raw:
        return None
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in choices]
    if unknown:
        raise ValidationError({"status": [f"unknown status {', '.join(unknown)} (known: {', '.join(choices)})"]})
    return wanted


def with_problem(rows, problem: str | None):
    if not problem:
        return rows
    if problem not in CHECKS:
        raise ValidationError({"problem": [f"unknown check {problem!r} (known: {', '.join(CHECKS)})"]})
    # The problems column (jsonb) as its text, which writes each problem as `"check": "<name>"`.
    return rows.annotate(problems_text=Cast("problems", TextField())).filter(
        problems_text__contains=f'"check": "{problem}"'
    )


def paginated(view: APIView, rows, serializer, paginator=None) -> Response:
    paginator = paginator or Cursor()
    page = paginator.paginate_queryset(rows, view.request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def filtered_bots(request, rows):
    wanted = statuses(request, BotState.values)
    if wanted:
        rows = rows.filter(status__in=wanted)
    return with_problem(rows, request.query_params.get("problem"))


class BotList(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[STATUS, PORTAL, PROBLEM],
        responses=BotSerializer(many=True),
        summary="Every expected bot with its status, since when, counters and problems (cursor pagination)",
    )
    def get(self, request):
        rows = bot_rows()
        if request.query_params.get("portal"):
            rows = rows.filter(portal__name=request.query_params["portal"])
        return paginated(self, filtered_bots(request, rows), BotSerializer)


class PortalBots(APIView):
    @extend_schema(
        tags=TAGS, parameters=[STATUS, PROBLEM], responses=BotSerializer(many=True), summary="A portal's bots"
    )
    def get(self, request, name: str):
        portal = get_portal(name)
        return paginated(self, filtered_bots(request, bot_rows().filter(portal=portal)), BotSerializer)

    @extend_schema(
        tags=TAGS,
        request=BotFileSerializer,
        responses={201: BotDetailSerializer, 200: BotDetailSerializer, 400: BAD_INPUT},
        summary="Add a bot to the portal, or update the one with this code (or id): a portal-file bot entry",
    )
    def post(self, request, name: str):
        bot, created = save_bot(request, get_portal(name), request.data)
        return bot_answer(bot, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def bot_answer(bot: Bot, code: int = status.HTTP_200_OK) -> Response:
    fresh = bot_rows().get(pk=bot.pk)
    return Response(BotDetailSerializer(fresh).data, status=code)


class BotDetail(APIView):
    @extend_schema(tags=TAGS, responses=BotDetailSerializer, summary="A bot, by its code (or its id if it has none)")
    def get(self, request, name: str, bot: str):
        return bot_answer(find_bot(get_portal(name), bot))

    @extend_schema(
        tags=TAGS,
        request=BotFileSerializer,
        responses={200: BotDetailSerializer, 400: BAD_INPUT},
        summary="Change some keys of the bot (bot_token, enabled, expect, backlog_minutes, id)",
    )
    def patch(self, request, name: str, bot: str):
        portal = get_portal(name)
        saved, _ = save_bot(request, portal, request.data, bot=find_bot(portal, bot))
        return bot_answer(saved)

    @extend_schema(tags=TAGS, responses={204: None}, summary="Delete the bot with its history")
    def delete(self, request, name: str, bot: str):
        found = find_bot(get_portal(name), bot)
        audit(request, "delete bot", found, label=f"{found.label} on {name}")
        Bot.objects.filter(pk=found.pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotVerifications(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("status", str, description="Only these statuses, comma-separated")],
        responses=VerificationSerializer(many=True),
        summary="The bot's verification history, newest first (cursor pagination)",
    )
    def get(self, request, name: str, bot: str):
        found = find_bot(get_portal(name), bot)
        wanted = statuses(request, Status.values) or ""
        return HistoryPages(request).respond(found.pk, wanted, VerificationSerializer)


class BotAnswers(APIView):
    @extend_schema(
        tags=TAGS,
        responses=AnswerProbeSerializer(many=True),
        summary="The bot's answer probes (kept 30 days), newest first (cursor pagination)",
    )
    def get(self, request, name: str, bot: str):
        found = find_bot(get_portal(name), bot)
        return paginated(self, found.answer_probes.all(), AnswerProbeSerializer, NewestProbeFirst())
