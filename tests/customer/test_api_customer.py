"""/api/v1/portals/NAME/status-link and /reports: links by write tokens (audited), reports by read tokens."""

import pytest

from checks.models import AuditLog
from tests.fixtures.api import call
from tests.fixtures.dashboard import make_portal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


@pytest.fixture
def acme(db):
    return make_portal("acme", n_bots=1, customer_name="ACME GmbH")


def test_a_write_token_creates_rotates_and_revokes_the_link(client, acme, read_token, write_token):
    assert call(client, "post", "/api/v1/portals/acme/status-link", read_token).status_code == 403
    created = call(client, "post", "/api/v1/portals/acme/status-link", write_token)
    assert created.status_code == 201
    url = created.json()["url"]
    path = url.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200
    again = call(client, "post", "/api/v1/portals/acme/status-link", write_token)
    assert (again.status_code, again.json()["url"]) == (200, url)
    assert call(client, "get", "/api/v1/portals/acme/status-link", read_token).json()["url"] == url
    rotated = call(client, "post", "/api/v1/portals/acme/status-link/rotate", write_token).json()["url"]
    assert rotated != url and client.get(path).status_code == 404
    assert call(client, "delete", "/api/v1/portals/acme/status-link", write_token).status_code == 204
    assert client.get(rotated.removeprefix("http://127.0.0.1:8000")).status_code == 404
    assert call(client, "get", "/api/v1/portals/acme/status-link", read_token).json()["url"] is None
    actions = sorted(AuditLog.objects.values_list("action", flat=True))
    assert actions == ["create status link", "revoke status link", "rotate status link"]


def test_a_read_token_gets_a_month_as_pdf_or_html(client, acme, read_token):
    pdf = call(client, "get", "/api/v1/portals/acme/reports/2026-11.pdf", read_token)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    html = call(client, "get", "/api/v1/portals/acme/reports/2026-11.html", read_token)
    assert html.status_code == 200 and "Monthly report for ACME GmbH, 2026-11" in html.content.decode()
    assert call(client, "get", "/api/v1/portals/acme/reports/2026-13.pdf", read_token).status_code == 404
    assert call(client, "get", "/api/v1/portals/acme/reports/2026-11.doc", read_token).status_code == 404
    assert call(client, "get", "/api/v1/portals/nope/reports/2026-11.pdf", read_token).status_code == 404
    assert call(client, "get", "/api/v1/portals/acme/reports/2026-11.pdf").status_code == 401
