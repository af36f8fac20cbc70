"""Redirects of a renamed portal (SPEC §5): re-POSTed once, and only where the credentials may go.

A renamed portal answers 302 with its new address (settings/how-to-call-rest-api/change-domen.md),
and requests would turn the POST into a body-less GET, so the client re-POSTs the same body
itself. That body holds the bot tokens or the OAuth access token, and a webhook address holds
its code, so the re-POST goes only to the same host or to a sibling under the same Bitrix24
cloud domain, and never from https down to http (checks.bitrix24.netpolicy). Any other
redirect is `misconfigured`: the new address is recorded on the portal, where the operator
may accept it, and nothing is sent there meanwhile.
"""

from typing import Protocol

from checks.bitrix24 import netpolicy
from checks.bitrix24.transport import Answer, mask_url
from checks.models import Portal

REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        target = netpolicy.join(url, answer.location)
        refusal = netpolicy.redirect_refusal(url, target)
    except netpolicy.AddressError:
        return refuse(client, answer, "", "")
    new_base = portal_base(client, target)
    if refusal is not None:
        return refuse(client, answer, new_base, refusal)
    record(client, new_base, refused=False)
    client.base_url = new_base  # later calls of this run go straight to the new address
    second = client.post(method, target, body)
    if second.http_status in REDIRECTS:
        try:
            again = portal_base(client, netpolicy.join(target, second.location))
        except netpolicy.AddressError:
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
    base = (netpolicy.parse_address(target, allow_http=True).base + "/").split("/rest/")[0]
    return client.redact(mask_url(base)).rstrip("/")[:500]


def record(client: Poster, new_base: str, *, refused: bool) -> None:
    client.redirect_url = new_base
    if client.persist:
        Portal.objects.filter(pk=client.portal.pk).exclude(redirected_to=new_base, redirect_refused=refused).update(
            redirected_to=new_base, redirect_refused=refused
        )
