"""The OpenAPI schema and its docs page: served from this server's static files, no CDN."""

import re

import pytest
import yaml

from tests.fixtures.api import call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PATHS = {
    "/api/v1/portals",
    "/api/v1/portals/{name}",
    "/api/v1/portals/{name}/check",
    "/api/v1/portals/{name}/uninstalled",
    "/api/v1/portals/{name}/bots",
    "/api/v1/portals/{name}/status-link",
    "/api/v1/portals/{name}/status-link/rotate",
    "/api/v1/portals/{name}/reports/{month}.{kind}",
    "/api/v1/portals/{name}/bots/{bot}",
    "/api/v1/portals/{name}/bots/{bot}/verifications",
    "/api/v1/portals/{name}/bots/{bot}/answers",
    "/api/v1/bots",
    "/api/v1/incidents",
    "/api/v1/incidents/{id}",
    "/api/v1/incidents/{id}/acknowledge",
}


def test_the_schema_lists_every_endpoint_with_bearer_auth_and_write_only_secrets(client, read_token):
    response = call(client, "get", "/api/v1/schema", read_token)
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert set(schema["paths"]) == PATHS
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    components = schema["components"]["schemas"]
    assert "code" in components["WebhookRequest"]["properties"]
    assert "code" not in components["Webhook"]["properties"]  # secrets never in an answer
    assert "broker_secret" not in components["OAuth"]["properties"]
    assert {"portal", "code", "id", "status", "since", "counters", "problems"} <= set(components["Bot"]["properties"])


def test_a_signed_in_user_reads_the_schema_and_the_docs_page(client, viewer):
    client.force_login(viewer)
    assert client.get("/api/v1/schema").status_code == 200
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"https?://(cdn|unpkg|fonts)\.", html)  # nothing from a CDN
    script = re.search(r'src="([^"]*docs\?script[^"]*)"', html) or re.search(r'src="(/api/v1/docs[^"]*)"', html)
    assert script, html
    bundle = re.search(r'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', html)
    assert bundle, html
    assert client.get(bundle.group(1)).status_code == 200


def test_the_docs_page_needs_a_login(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
