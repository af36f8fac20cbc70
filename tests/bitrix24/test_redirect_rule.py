"""Where a renamed portal's redirect may take its credentials."""

import pytest

from checks.bitrix24.redirects import redirect_refusal


@pytest.fixture(autouse=True)
def http_allowed(settings):
    settings.BOTWATCH_ALLOW_HTTP = True


@pytest.mark.parametrize(
    ("origin", "target", "refusal"),
    [
        ("https://acme.bitrix24.com/rest/1/x/m", "https://acme.bitrix24.com/rest/1/x/m", None),
        ("https://acme.bitrix24.com", "https://ACME.bitrix24.com./rest/", None),  # case and trailing dot
        ("https://acme.bitrix24.com", "https://acme-new.bitrix24.com/rest/", None),  # renamed in the cloud
        ("https://acme.bitrix24.de", "https://acme2.bitrix24.de/rest/", None),
        ("https://acme.bitrix24.com.br", "https://new.bitrix24.com.br/rest/", None),
        ("http://127.0.0.1:8090/acme", "http://127.0.0.1:8090/new/rest/", None),  # the simulator's rename
        ("http://portal.example.com", "https://portal.example.com/rest/", None),  # an upgrade to https
        ("https://acme.bitrix24.com", "https://acme.bitrix24.de/rest/", "another host"),  # another cloud zone
        ("https://acme.bitrix24.com", "https://acme.bitrix24.com.evil.io/rest/", "another host"),  # a suffix trick
        ("https://acme.bitrix24.com", "https://x.acme.bitrix24.com/rest/", "another host"),  # not one label under
        ("https://acme.bitrix24.com", "https://bitrix24.com/rest/", "another host"),
        ("https://portal.example.com", "https://other.example.com/rest/", "another host"),
        ("https://portal.example.com", "https://portal.example.com:8443/rest/", "another host"),  # another port
        ("https://acme.bitrix24.com", "https://acme2.bitrix24.com:8443/rest/", "another host"),
        ("https://acme.bitrix24.com", "http://acme.bitrix24.com/rest/", "plain http"),  # never a downgrade
        ("https://acme.bitrix24.com", "http://acme2.bitrix24.com/rest/", "plain http"),
    ],
)
def test_redirect_refusal(origin, target, refusal):
    assert redirect_refusal(origin, target) == refusal


def test_plain_http_to_http_needs_allow_http(settings):
    settings.BOTWATCH_ALLOW_HTTP = False
    assert redirect_refusal("http://127.0.0.1:8090/acme", "http://127.0.0.1:8090/new/rest/") == "plain http"
