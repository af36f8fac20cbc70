"""The address a request came from, for the login lockout (django-axes' AXES_CLIENT_IP_CALLABLE).

REMOTE_ADDR, unless it is one of our own proxies (BOTWATCH_TRUSTED_PROXIES, addresses or networks).
Each proxy appends the address it received the request from to X-Forwarded-For, so reading the
header from its end, past the entries that are our proxies too, the first other address is the
client. Entries before it are whatever the client chose to send, and are never believed; nor is the
header of a request that did not come from one of our proxies (anyone could send one).
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.BOTWATCH_TRUSTED_PROXIES
    if not is_proxy(address, proxies):
        return address
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for entry in reversed(forwarded):
        if not _is_address(entry):
            # Not an address: our proxy did not write it; the last hop we know is the answer.
            return address
        address = entry
        if not is_proxy(entry, proxies):
            return address
    return address


def is_proxy(address: str, proxies: list) -> bool:
    if not proxies or not _is_address(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in proxies)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
