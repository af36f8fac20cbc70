"""/api/v1/: portals, bots and incidents (docs/api.md), the OpenAPI schema and its docs page (Swagger UI)."""

from django.contrib.auth.decorators import login_required
from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dashboard.api import bots, customer, incidents, portals
from dashboard.api.auth import BearerTokenAuthentication, SchemaReader

app_name = "api"


class BotKey:
    """A bot's code or id in a path: anything at all, so that a URL can be built for every stored
    bot, even one whose code predates today's rule (a `/` in it, say)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(BotKey, "botkey")

schema = SpectacularAPIView.as_view(
    authentication_classes=[BearerTokenAuthentication, *SchemaReader.session], permission_classes=[SchemaReader]
)
# The docs page is for people: a dashboard login, like every page; "Authorize" takes a token to try calls.
docs = login_required(
    SpectacularSwaggerSplitView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[])
)

urlpatterns = [
    path("schema", schema, name="schema"),
    path("docs", docs, name="docs"),
    path("portals", portals.PortalList.as_view(), name="portal-list"),
    path("portals/<str:name>", portals.PortalDetail.as_view(), name="portal-detail"),
    path("portals/<str:name>/check", portals.PortalCheck.as_view(), name="portal-check"),
    path("portals/<str:name>/uninstalled", portals.PortalUninstalled.as_view(), name="portal-uninstalled"),
    path("portals/<str:name>/status-link", customer.StatusLink.as_view(), name="status-link"),
    path("portals/<str:name>/status-link/rotate", customer.StatusLinkRotate.as_view(), name="status-link-rotate"),
    path(
        "portals/<str:name>/reports/<str:month>.<str:kind>",
        customer.Report.as_view(),
        name="report",
    ),
    path("portals/<str:name>/bots", bots.PortalBots.as_view(), name="portal-bots"),
    path(
        "portals/<str:name>/bots/<botkey:bot>/verifications", bots.BotVerifications.as_view(), name="bot-verifications"
    ),
    path("portals/<str:name>/bots/<botkey:bot>/answers", bots.BotAnswers.as_view(), name="bot-answers"),
    path("portals/<str:name>/bots/<botkey:bot>", bots.BotDetail.as_view(), name="bot-detail"),
    path("bots", bots.BotList.as_view(), name="bot-list"),
    path("incidents", incidents.IncidentList.as_view(), name="incident-list"),
    path("incidents/<int:pk>", incidents.IncidentDetail.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/acknowledge", incidents.IncidentAcknowledge.as_view(), name="incident-acknowledge"),
]
