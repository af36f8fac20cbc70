"""Redirects of a renamed portal (docs/network.md): re-POSTed once, and only where the credentials may go.

A renamed portal answers 302 with its new address (settings/how-to-call-rest-api/change-domen.md),
and requests would turn the POST into a body-less GET, so the client re-POSTs the same body
itself. That body holds the bot tokens or the OAuth access token, and a webhook address holds
its code, so the re-POST goes only to the same host or to a sibling under the same Bitrix24
cloud domain, and never from https down to http (`redirect_refusal`). Any other
redirect is `misconfigured`: the new address is recorded on the portal, where the operator
may accept it, and nothing is sent there meanwhile.
"""

from typing import Protocol

from django.conf import settings

from checks.bitrix24.transport import Answer, mask_url
from checks.models import Portal
from checks.net import addresses

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The cloud domains Bitrix24 serves portals under (<portal>.bitrix24.<zone>). A renamed cloud
# portal may move to another name under the same zone, and credentials may follow it there.
CLOUD_ZONES = [
    "com",
    "de",
    "eu",
    "es",
    "fr",
    "it",
    "pl",
    "ua",
    "by",
    "kz",
    "in",
    "com.br",
    "com.tr",
    "jp",
    "cn",
    "id",
    "vn",
    "ru",
    "co",
]
BITRIX24_CLOUD_DOMAINS = tuple(f"bitrix24.{zone}" for zone in CLOUD_ZONES)


class Poster(Protocol):
    """What following needs of the client (checks.bitrix24.client.Bitrix24Client is one)."""

    portal: Portal
    persist: bool
    base_url: str
    redirect_url: str

    def post(self, method: str, url: str, body: dict) -> Answer: ...
    def redact(self, text: str, *extra: str) -> str: ...


def follow(client: Poster, method: str, url: str, body: dict, answer: Answer) -> Answer:
    """The answer to `body` after at most one re-POST; a refused redirect comes back marked."""
    try:
        target = addresses.join(url, answer.location)
        refusal = redirect_refusal(url, target)
    except addresses.AddressError:
        return refuse(client, answer, "", "")
    new_base = portal_base(client, target)
    if refusal is not None:
        return refuse(client, answer, new_base, refusal)
    record(client, new_base, refused=False)
    client.base_url = new_base  # later calls of this run go straight to the new address
    second = client.post(method, target, body)
    if second.http_status in REDIRECTS:
        try:
            again = portal_base(client, addresses.join(target, second.location))
        except addresses.AddressError:
            again = ""
        return refuse(client, second, again, "a second redirect")
    return second


def refuse(client: Poster, answer: Answer, new_base: str, reason: str) -> Answer:
    if new_base:
        answer.refusal = (
            f"portal redirects to {new_base} ({reason}): credentials not sent; accept the new address "
            "on the portal page"
        )
        answer.redirect_to = new_base
        record(client, new_base, refused=True)
    else:
        answer.refusal = f"portal redirects to an invalid address{f' ({reason})' if reason else ''}; not followed"
    return answer


def portal_base(client: Poster, target: str) -> str:
    """The portal's address in a redirect target: scheme, host, port and the path before /rest/."""
    base = (addresses.parse_address(target, allow_http=True).base + "/").split("/rest/")[0]
    return client.redact(mask_url(base)).rstrip("/")[:500]


def record(client: Poster, new_base: str, *, refused: bool) -> None:
    client.redirect_url = new_base
    if client.persist:
        Portal.objects.filter(pk=client.portal.pk).exclude(redirected_to=new_base, redirect_refused=refused).update(
            redirected_to=new_base, redirect_refused=refused
        )


def redirect_refusal(origin_url: str, target_url: str) -> str | None:
    """None when a redirect from origin to target may carry the credentials, else why not.

    Allowed: the same host and port (an upgrade from http to https included), or a sibling one
    label under the same Bitrix24 cloud domain. Never down to plain http, and http to http
    only where BOTWATCH_ALLOW_HTTP allows the origin itself. AddressError for a broken target.
    """
    origin = addresses.parse_address(origin_url, allow_http=True)
    target = addresses.parse_address(target_url, allow_http=True)
    if target.scheme == "http" and (origin.scheme != "http" or not settings.BOTWATCH_ALLOW_HTTP):
        return "plain http"
    if target.host == origin.host and (target.port == origin.port or (origin.default_port and target.default_port)):
        return None
    if target.default_port and cloud_siblings(origin.host, target.host):
        return None
    return "another host"


def cloud_siblings(first: str, second: str) -> bool:
    """Both hosts are one label under the same Bitrix24 cloud domain (acme.bitrix24.com, b.bitrix24.com)."""
    for domain in BITRIX24_CLOUD_DOMAINS:
        suffix = "." + domain
        labels = [host.removesuffix(suffix) for host in (first, second) if host.endswith(suffix)]
        if len(labels) == 2 and all(label and "." not in label for label in labels):
            return True
    return False
