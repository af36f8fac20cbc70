"""The address rule of every outside call: which URLs BotWatch can call, which addresses it connects to.

Pure, but for the settings it reads (BOTWATCH_ALLOW_HTTP, BOTWATCH_ALLOW_PRIVATE_PORTALS). Every
message here names the scheme and the host at most, never a path or a query: a webhook address
carries its code in the path.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressError(ValueError):
    """The address cannot be used; the message names what is wrong, never a credential."""


@dataclass(frozen=True)
class Address:
    scheme: str
    host: str  # lower case, without brackets or a trailing dot
    port: int  # the effective port
    base: str  # scheme://host[:port]/path, without query or fragment

    @property
    def default_port(self) -> bool:
        return self.port == DEFAULT_PORTS[self.scheme]

    @property
    def destination(self) -> str:
        """Where credentials go: the host, with the port when it is not the scheme's own."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.default_port else f"{host}:{self.port}"


def parse_address(url: str, *, allow_http: bool | None = None) -> Address:
    """The portal address `url`, or AddressError (plain http only with BOTWATCH_ALLOW_HTTP)."""
    text = str(url)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise AddressError("portal address holds spaces or control characters")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise AddressError("portal address cannot be parsed") from None
    scheme = parts.scheme.lower()
    shown = f"{scheme}://{host}" if host else "portal address"
    if scheme not in DEFAULT_PORTS:
        raise AddressError(
            f"portal address (scheme {scheme or 'missing'!r}, host {host or 'missing'!r}) is not https://"
        )
    if not host:
        raise AddressError(f"portal address {scheme}:// has no host name")
    allowed = settings.BOTWATCH_ALLOW_HTTP if allow_http is None else allow_http
    if scheme == "http" and not allowed:
        raise AddressError(
            f"portal address {shown} uses plain http: Bitrix24 requires HTTPS "
            "(BOTWATCH_ALLOW_HTTP=1 allows it, e.g. for the simulator)"
        )
    if parts.username is not None or parts.password is not None:
        raise AddressError(f"portal address {shown} holds a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"portal address {shown}: port is not a number from 1 to 65535") from None
    if port == 0:
        raise AddressError(f"portal address {shown}: port is not a number from 1 to 65535")
    host = host.rstrip(".")
    try:
        host.encode("idna")
    except UnicodeError:
        raise AddressError(f"portal address {scheme}://…: the host name is not a valid domain name") from None
    netloc = parts.netloc.rpartition("@")[2]
    return Address(scheme, host, port or DEFAULT_PORTS[scheme], f"{scheme}://{netloc}{parts.path}".rstrip("/"))


def destination(url: str) -> str | None:
    """Where a portal's credentials go (host, and port when not the default), or None for a broken URL.

    http and https on the same host are one destination: an upgrade to https is no move.
    """
    try:
        return parse_address(url, allow_http=True).destination
    except AddressError:
        return None


def portal_url_problem(url: str) -> str | None:
    """What the forms and the importer say about an address BotWatch could not call, or None.

    A private address written out (an IP literal, localhost) is refused here already; a name
    that resolves to one is refused when the connection opens (checks.net.connection).
    """
    try:
        address = parse_address(url)
    except AddressError as exc:
        return str(exc)
    if address.host == "localhost" or address.host.endswith(".localhost"):
        return address_problem("127.0.0.1", host=address.host)
    try:
        ipaddress.ip_address(address.host)
    except ValueError:
        return None
    return address_problem(address.host)


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_problem(ip: str, *, host: str = "", allow_private: bool | None = None) -> str | None:
    """Why BotWatch does not connect to `ip`: loopback, private, link-local, shared or multicast; or None.

    Unless BOTWATCH_ALLOW_PRIVATE_PORTALS. IPv6 forms that carry an IPv4 address (mapped,
    6to4, NAT64) are judged by that address, so ::ffff:127.0.0.1 is loopback too.
    """
    allowed = settings.BOTWATCH_ALLOW_PRIVATE_PORTALS if allow_private is None else allow_private
    if allowed:
        return None
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return f"{host or ip} is not an address BotWatch can connect to"
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        address = embedded or address
    if address.is_global and not address.is_multicast:
        return None
    return (
        f"{host or ip} is on a loopback, private or link-local network "
        "(BOTWATCH_ALLOW_PRIVATE_PORTALS=1 allows it, e.g. for on-premise portals)"
    )


def join(url: str, location: str) -> str:
    """The absolute address a Location header points to from `url`; AddressError when it is broken."""
    if not location:
        raise AddressError("a redirect without a Location")
    try:
        return urljoin(url, location)
    except ValueError:
        raise AddressError("an invalid address") from None
