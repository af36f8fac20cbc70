"""What an outside address may be: the URL as written, and the address actually connected."""

import pytest

from checks.net.addresses import AddressError, address_problem, parse_address, portal_url_problem


@pytest.fixture(autouse=True)
def http_allowed(settings):
    settings.BOTWATCH_ALLOW_HTTP = True


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://user:pw@acme.bitrix24.com", "user name or password"),
        ("https://acme.bitrix24.com:99999", "port is not a number"),
        ("https://acme.bitrix24.com:0", "port is not a number"),
        ("https://acme.bitrix24.com/a b", "spaces or control characters"),
        ("ftp://acme.bitrix24.com", "is not https://"),
        ("https:///rest/", "has no host name"),
        ("http://[::1", "cannot be parsed"),
    ],
)
def test_addresses_botwatch_cannot_call_are_refused_naming_the_problem(url, problem):
    with pytest.raises(AddressError, match=problem) as refused:
        parse_address(url)
    assert "pw" not in str(refused.value)


REFUSED = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",  # noqa: S104
    "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
]  # fmt: skip


@pytest.mark.parametrize("ip", REFUSED)
def test_loopback_private_link_local_and_disguised_addresses_are_refused(ip, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in address_problem(ip)
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = True
    assert address_problem(ip) is None


@pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(ip, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    assert address_problem(ip) is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8090/acme", "http://localhost/acme", "http://portal.localhost", "https://[fe80::1]/"]
)
def test_a_private_address_written_out_is_refused_before_any_lookup(url, settings):
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = False
    assert "BOTWATCH_ALLOW_PRIVATE_PORTALS=1" in portal_url_problem(url)
    settings.BOTWATCH_ALLOW_PRIVATE_PORTALS = True
    assert portal_url_problem(url) is None
