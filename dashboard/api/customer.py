"""/api/v1/portals/NAME/status-link and /reports/YYYY-MM.(pdf|html): what the customer sees, by API.

POST creates the status page link (or answers the existing one), POST .../rotate replaces it,
DELETE revokes it (write tokens, audited); GET a month's report as PDF or HTML (read tokens).
"""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.customer import links, report
from checks.models import Portal
from dashboard.api.common import get_portal
from dashboard.api.serializers import StatusLinkSerializer
from dashboard.views.common import audit

TAGS = ["customer"]


def _with_token(name: str) -> Portal:
    get_portal(name)  # 404 with the API's message when there is no such portal
    return Portal.objects.get(name=name)


def _answer(portal: Portal, token: str | None, code: int = status.HTTP_200_OK) -> Response:
    url = links.page_url(token) if token else None
    return Response({"portal": portal.name, "url": url, "badge": f"{url}badge.svg" if url else None}, status=code)


class StatusLink(APIView):
    @extend_schema(tags=TAGS, responses=StatusLinkSerializer, summary="The portal's status page link, or null")
    def get(self, request, name: str):
        portal = _with_token(name)
        return _answer(portal, portal.status_token or None)

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: StatusLinkSerializer, 201: StatusLinkSerializer},
        summary="Create the portal's status page link (201), or answer the one it has (200)",
    )
    def post(self, request, name: str):
        portal = _with_token(name)
        token, created = links.ensure(portal)
        if created:
            audit(request, "create status link", portal)
        return _answer(portal, token, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(tags=TAGS, responses={204: None}, summary="Revoke the link: its status page and badges answer 404")
    def delete(self, request, name: str):
        portal = _with_token(name)
        if links.revoke(portal):
            audit(request, "revoke status link", portal)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StatusLinkRotate(APIView):
    @extend_schema(
        tags=TAGS, request=None, responses=StatusLinkSerializer, summary="Replace the link: the old one answers 404"
    )
    def post(self, request, name: str):
        portal = _with_token(name)
        token = links.issue(portal)
        audit(request, "rotate status link", portal)
        return _answer(portal, token)


class Report(APIView):
    @extend_schema(
        tags=TAGS,
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "text/html"): OpenApiTypes.STR,
            404: OpenApiResponse(description="No such portal, or a month that is not YYYY-MM"),
        },
        summary="The portal's monthly report (month YYYY-MM, kind pdf or html)",
    )
    def get(self, request, name: str, month: str, kind: str):
        portal = get_portal(name)
        if kind not in ("pdf", "html"):
            raise Http404("A report is .pdf or .html.")
        try:
            built = report.build(portal, report.Month.parse(month))
        except report.BadMonth as exc:
            raise Http404(str(exc)) from None
        if kind == "pdf":
            response = HttpResponse(report.render_pdf(built), content_type="application/pdf")
            response.headers["Content-Disposition"] = f'attachment; filename="{portal.name}-{built.month}.pdf"'
            return response
        return HttpResponse(report.render_html(built, standalone=True), content_type="text/html; charset=utf-8")
