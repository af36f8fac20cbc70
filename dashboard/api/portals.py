"""/api/v1/portals: list, read, create, replace, change and delete portals; check now; app uninstalled."""

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.engine.dispatch import check_now
from checks.engine.verify import verify_portal
from checks.models import Bot, Incident, Portal
from checks.portal_file.export import bots_in_file_order
from dashboard.api.common import ByName, bot_rows, get_portal
from dashboard.api.serializers import BotSerializer, CheckNowSerializer, PortalSerializer, UninstalledSerializer
from dashboard.api.writes import patched_portal, save_portal
from dashboard.views.common import PORTAL_SECRETS, audit

BAD_INPUT = OpenApiResponse(description='Bad input: a message per field, e.g. {"bots[0].bot_token": ["..."]}')
TAGS = ["portals"]


def summaries(portal_ids: list[int]) -> dict[int, dict]:
    """Bots per status and open incidents of each portal, in two queries."""
    out = {pk: {"bots": 0, "by_status": {}, "open_incidents": 0} for pk in portal_ids}
    for row in Bot.objects.filter(portal_id__in=portal_ids).values("portal_id", "status").annotate(n=Count("pk")):
        out[row["portal_id"]]["by_status"][row["status"]] = row["n"]
        out[row["portal_id"]]["bots"] += row["n"]
    open_ = Q(state=Incident.State.OPEN)
    for row in Incident.objects.filter(open_, portal_id__in=portal_ids).values("portal_id").annotate(n=Count("pk")):
        out[row["portal_id"]]["open_incidents"] = row["n"]
    return out


def portal_answer(portal: Portal, code: int = status.HTTP_200_OK) -> Response:
    fresh = Portal.objects.defer(*PORTAL_SECRETS).prefetch_related(bots_in_file_order()).get(pk=portal.pk)
    body = PortalSerializer(fresh, context={"summaries": summaries([fresh.pk])}).data
    return Response(body, status=code)


class PortalList(APIView):
    @extend_schema(tags=TAGS, responses=PortalSerializer(many=True), summary="List portals (cursor pagination)")
    def get(self, request):
        paginator = ByName()
        rows = Portal.objects.defer(*PORTAL_SECRETS).prefetch_related(bots_in_file_order())
        page = paginator.paginate_queryset(rows, request, view=self)
        context = {"summaries": summaries([p.pk for p in page])}
        return paginator.get_paginated_response(PortalSerializer(page, many=True, context=context).data)

    @extend_schema(
        tags=TAGS,
        request=PortalSerializer,
        responses={201: PortalSerializer, 400: BAD_INPUT},
        summary="Add one portal in the shape of a portal-file entry (the same validation as import_portals)",
    )
    def post(self, request):
        portal, _ = save_portal(request, request.data, create=True)
        return portal_answer(portal, status.HTTP_201_CREATED)


class PortalDetail(APIView):
    @extend_schema(tags=TAGS, responses=PortalSerializer, summary="Read a portal (secrets left out)")
    def get(self, request, name: str):
        return portal_answer(get_portal(name))

    @extend_schema(
        tags=TAGS,
        request=PortalSerializer,
        responses={200: PortalSerializer, 201: PortalSerializer, 400: BAD_INPUT},
        summary="Create or update the portal: bots listed are added or updated, others stay; secrets left out stay",
    )
    def put(self, request, name: str):
        portal, created = save_portal(request, request.data, name=name)
        return portal_answer(portal, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        tags=TAGS,
        request=PortalSerializer,
        responses={200: PortalSerializer, 400: BAD_INPUT},
        summary="Change some keys of the portal (webhook and oauth merge into the stored ones)",
    )
    def patch(self, request, name: str):
        portal, _ = save_portal(request, patched_portal(get_portal(name), request.data), name=name)
        return portal_answer(portal)

    @extend_schema(tags=TAGS, responses={204: None}, summary="Delete the portal with its bots and history")
    def delete(self, request, name: str):
        portal = get_portal(name)
        audit(request, "delete portal", portal, {"bots": portal.bots.count()})
        portal.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PortalCheck(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: CheckNowSerializer, 409: CheckNowSerializer},
        summary="Check every enabled bot of the portal as soon as a worker is free",
    )
    def post(self, request, name: str):
        portal = get_portal(name)
        if portal.paused:
            return Response({"portal": name, "detail": f"{name} is paused: resume it to run checks"}, status=409)
        if not check_now(portal.pk):
            return Response({"portal": name, "detail": f"a verification of {name} is running already"}, status=409)
        audit(request, "check now", portal)
        return Response({"portal": name, "detail": "queued"}, status=status.HTTP_202_ACCEPTED)


class PortalUninstalled(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: UninstalledSerializer, 409: CheckNowSerializer},
        summary="The app was uninstalled (its ONAPPUNINSTALL handler calls this): verify the portal now",
        description="Verifies every enabled bot at once, through the workers' code path (history, incidents "
        "and alert emails included), and answers the bots' new states.",
    )
    def post(self, request, name: str):
        portal = get_portal(name)
        if portal.paused:
            return Response({"portal": name, "detail": f"{name} is paused: not verified"}, status=409)
        rows = verify_portal(portal.pk, manual=True, inline_alerts=True)
        audit(request, "app uninstalled", portal, {"statuses": {str(r.bot_id): str(r.status) for r in rows}})
        bots = bot_rows().filter(portal=portal, enabled=True)
        body = {"portal": name, "verified": len(rows), "bots": BotSerializer(bots, many=True).data}
        return Response(body)
