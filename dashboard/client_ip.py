"""The address a request came from, for the login lockout (django-axes' AXES_CLIENT_IP_CALLABLE).

REMOTE_ADDR, unless BOTWATCH_TRUSTED_PROXIES says how many proxies of our own stand in front:
each of them appends the address it received the request from to X-Forwarded-For, so the
client is the entry that many places from the end. Entries before it are whatever the client
chose to send, and are never believed.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "BOTWATCH_TRUSTED_PROXIES", 0)
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        # Fewer hops than proxies: the header did not come through our proxies as configured.
        return remote
    return forwarded[-proxies]
