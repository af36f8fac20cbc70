"""/api/v1/incidents: list with filters, read, acknowledge."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.alerts.actions import acknowledge
from checks.models import Incident
from checks.status import Status
from dashboard.api.bots import paginated, statuses
from dashboard.api.common import NewestIncidentFirst, find_bot, get_portal
from dashboard.api.serializers import AcknowledgeSerializer, IncidentSerializer
from dashboard.views.common import RELATED_PORTAL_SECRETS, audit

TAGS = ["incidents"]


def incident_rows():
    return Incident.objects.select_related("bot", "portal", "acknowledged_by").defer(
        "bot__bot_token", *RELATED_PORTAL_SECRETS
    )


class IncidentList(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("state", str, enum=Incident.State.values, description="open or resolved"),
            OpenApiParameter("portal", str, description="The portal's name"),
            OpenApiParameter("bot", str, description="The bot's code (or id), with portal"),
            OpenApiParameter("status", str, description="Worst status seen, comma-separated"),
            OpenApiParameter("acknowledged", bool, description="true or false"),
        ],
        responses=IncidentSerializer(many=True),
        summary="Incidents, newest first (cursor pagination)",
    )
    def get(self, request):
        return paginated(self, self.filtered(request.query_params), IncidentSerializer, NewestIncidentFirst())

    def filtered(self, params):
        rows = incident_rows()
        state = params.get("state")
        if state:
            if state not in Incident.State.values:
                raise ValidationError({"state": [f"must be one of {', '.join(Incident.State.values)}"]})
            rows = rows.filter(state=state)
        if params.get("bot") and not params.get("portal"):
            raise ValidationError({"bot": ["give portal too: a bot's code names it within its portal"]})
        if params.get("portal"):
            portal = get_portal(params["portal"])
            rows = rows.filter(portal=portal)
            if params.get("bot"):
                rows = rows.filter(bot=find_bot(portal, params["bot"]))
        wanted = statuses(self.request, Status.values)
        if wanted:
            rows = rows.filter(status__in=wanted)
        acknowledged = params.get("acknowledged")
        if acknowledged is not None:
            if acknowledged not in ("true", "false"):
                raise ValidationError({"acknowledged": ["must be true or false"]})
            rows = rows.filter(acknowledged_at__isnull=acknowledged == "false")
        return rows


class IncidentDetail(APIView):
    @extend_schema(tags=TAGS, responses=IncidentSerializer, summary="An incident")
    def get(self, request, pk: int):
        return Response(IncidentSerializer(get_object_or_404(incident_rows(), pk=pk)).data)


class IncidentAcknowledge(APIView):
    @extend_schema(
        tags=TAGS,
        request=AcknowledgeSerializer,
        responses={200: IncidentSerializer, 409: IncidentSerializer},
        summary="Someone is on it: reminders stop (409 when resolved or acknowledged already)",
    )
    def post(self, request, pk: int):
        incident = get_object_or_404(incident_rows(), pk=pk)
        form = AcknowledgeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        note = form.validated_data["note"]
        if not acknowledge(incident, request.user.audit_user, note=note):
            return Response(IncidentSerializer(get_object_or_404(incident_rows(), pk=pk)).data, status=409)
        label = f"incident #{incident.pk}: {incident.subject}"
        audit(request, "acknowledge", incident, {"note": note}, label=label)
        return Response(IncidentSerializer(get_object_or_404(incident_rows(), pk=pk)).data)
