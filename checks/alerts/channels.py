"""Where an alert goes besides the usual emails: channels, from the defaults, the portal and its routes.

Channels are named objects (checks.models.Channel, the Notifications page). A portal names its
own channels and routes by URL (the portal file's `notify` and `routes`), and every such URL
has a Channel row (`ensure_channels()`), so a channel's edit or removal reaches every portal.

- The default channels, for every portal: the channels marked "apply to all portals".
  `BOTWATCH_NOTIFY_URLS` seeds them at `migrate` (`seed_channels()`); until then a URL
  of the variable with no row yet counts as a default, so no alert is lost between a deploy
  and its migrate.
- `Portal.notify` with `notify_mode`: `add` (the default) sends to the defaults and the portal's
  own channels, `replace` to the portal's own only.
- `Portal.routes`, `{class: [URL or email, ...]}`: alerts of that class go there instead of the
  usual emails and channels (auth_failed to the integration owner, not_found to on-call). Users
  subscribed to the portal still get every email. A class is a status (docs/statuses.md), or `payment`
  (the application's paid period, for portal alerts).

Every writer of a Notification row calls `targets_for()` for its recipients and channels, and
`checks.alerts.channel_delivery.queue_channel_deliveries()` in the same transaction: incident
alerts (checks.alerts.queue), the credential digest, and portal and wave alerts alike.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q

from checks.alerts.channel_urls import (
    ChannelURLError,
    fingerprint,
    is_channel_url,
    label,
    mask,
    validate_channel_url,
)
from checks.alerts.messages import recipients_for
from checks.models import Channel, NotifyMode, Portal
from checks.status import Status

ROUTE_CLASSES = (*(s for s in Status.values if s != Status.OK), "payment")
NOTIFY_MODES = tuple(NotifyMode.values)
MAX_CHANNELS = 20  # per list: a portal file that names hundreds is a mistake, and each costs a post


@dataclass(frozen=True)
class Targets:
    emails: list[str]
    channels: list[str]


@dataclass(frozen=True)
class ListedChannel:
    """A channel as pages know it: where it comes from, its label and fingerprint, never its URL."""

    source: str  # "default", "portal", or "route: <class>"
    label: str
    fingerprint: str


def default_channels() -> list[str]:
    """The URLs of the channels applied to all portals, and those of BOTWATCH_NOTIFY_URLS not seeded yet."""
    seeded = {fingerprint(url): url for url in settings.BOTWATCH_NOTIFY_URLS}
    rows = Channel.objects.filter(Q(is_default=True) | Q(fingerprint__in=seeded)).order_by("created_at", "pk")
    found = {row.fingerprint: row for row in rows}
    unseeded = [url for key, url in seeded.items() if key not in found]
    return [*unseeded, *(row.url for row in found.values() if row.is_default)]


def seed_channels() -> list[Channel]:
    """Run at every `migrate`: a default channel for each URL of BOTWATCH_NOTIFY_URLS, and a channel
    for each URL a portal names (portals stored before channels had names), where none is yet.

    Idempotent: a URL already known is left as the Notifications page has it (renamed, or no
    longer applied to all portals); nothing is removed.
    """
    created = ensure_channels(list(settings.BOTWATCH_NOTIFY_URLS), name="Default", is_default=True)
    for portal in Portal.objects.only("id", "name", "notify", "routes"):
        created += ensure_portal_channels(portal)
    return created


def ensure_channels(urls: list[str], *, name: str, is_default: bool = False) -> list[Channel]:
    """A Channel row for each URL that has none (named `name: scheme://host`); returns those created."""
    known = set(
        Channel.objects.filter(fingerprint__in=[fingerprint(u) for u in urls]).values_list("fingerprint", flat=True)
    )
    created = []
    for url in urls:
        key = fingerprint(url)
        if key in known:
            continue
        known.add(key)
        row = Channel(name=free_name(f"{name}: {mask(url)}"), url=url, fingerprint=key, is_default=is_default)
        row.from_settings = is_default and url in settings.BOTWATCH_NOTIFY_URLS
        row.save()
        created.append(row)
    return created


def ensure_portal_channels(portal: Portal) -> list[Channel]:
    """Rows for the URLs a portal names (its own channels and routes), for the Notifications page."""
    return ensure_channels(portal_urls(portal), name=portal.name)


def portal_urls(portal: Portal) -> list[str]:
    routed = [t for targets in (portal.routes or {}).values() for t in targets if is_channel_url(t)]
    return [*(portal.notify or []), *routed]


def free_name(wanted: str) -> str:
    """`wanted`, or `wanted (2)`, ... : channel names are unique."""
    wanted = wanted[:90]
    taken = set(Channel.objects.filter(name__startswith=wanted).values_list("name", flat=True))
    candidates = (wanted if n == 1 else f"{wanted} ({n})" for n in range(1, len(taken) + 2))
    return next(c for c in candidates if c not in taken)


def replace_channel_url(old: str, new: str | None) -> list[Portal]:
    """Every portal naming the URL `old` names `new` instead (None: no longer names it); saved, returned."""
    changed = []
    key = fingerprint(old)
    for portal in Portal.objects.only("id", "name", "notify", "routes"):
        notify = _swap(portal.notify or [], key, new)
        routes = {
            cls: swapped for cls, targets in (portal.routes or {}).items() if (swapped := _swap(targets, key, new))
        }
        if notify != (portal.notify or []) or routes != (portal.routes or {}):
            portal.notify, portal.routes = notify, routes
            portal.save(update_fields=["notify", "routes", "updated_at"])
            changed.append(portal)
    return changed


def _swap(targets: list[str], key: str, new: str | None) -> list[str]:
    swapped = [(new if is_channel_url(t) and fingerprint(t) == key else t) for t in targets]
    return list(dict.fromkeys(t for t in swapped if t))


def channel_users(channels: list[Channel]) -> dict[str, list[str]]:
    """For each channel's fingerprint, the names of the portals that name it (own list or a route)."""
    wanted = {c.fingerprint for c in channels}
    users: dict[str, list[str]] = {key: [] for key in wanted}
    for portal in Portal.objects.only("id", "name", "notify", "routes"):
        for key in dict.fromkeys(fingerprint(u) for u in portal_urls(portal)):
            if key in wanted:
                users[key].append(portal.name)
    return users


def portal_channels(portal: Portal) -> list[str]:
    """The channels of the portal's alerts that no route takes: defaults and its own, per notify_mode."""
    own = list(portal.notify or [])
    if portal.notify_mode == NotifyMode.REPLACE:
        return _unique(own)
    return _unique([*default_channels(), *own])


def route_of(portal: Portal, status_class: str) -> str:
    """The route an alert of this class takes on this portal; "" for the usual targets."""
    return status_class if status_class in (portal.routes or {}) else ""


def targets_for(portal: Portal, route: str = "") -> Targets:
    """Email recipients and channel URLs for the portal's alerts of one route ("" for the usual ones)."""
    routed = (portal.routes or {}).get(route) if route else None
    if routed is None:
        return Targets(recipients_for(portal), portal_channels(portal))
    emails = [t for t in routed if not is_channel_url(t)]
    return Targets(recipients_for(portal, emails), _unique([t for t in routed if is_channel_url(t)]))


def listed_channels(portal: Portal) -> list[ListedChannel]:
    """Every channel the portal's alerts may go to, for its page: usual ones first, then by route."""
    usual = set(portal.notify or [])
    channels = [
        ListedChannel("portal" if url in usual else "default", label(url), fingerprint(url))
        for url in portal_channels(portal)
    ]
    for route, routed in sorted((portal.routes or {}).items()):
        channels += [ListedChannel(f"route: {route}", label(t), fingerprint(t)) for t in routed if is_channel_url(t)]
    return channels


def find_channel(portal: Portal | None, wanted: str) -> str | None:
    """The URL with this fingerprint among the portal's channels (or the defaults), else None."""
    urls = default_channels()
    if portal is not None:
        urls += [*(portal.notify or []), *(t for routed in (portal.routes or {}).values() for t in routed)]
    return next((url for url in urls if is_channel_url(url) and fingerprint(url) == wanted), None)


def _unique(urls: list[str]) -> list[str]:
    seen, result = set(), []
    for url in urls:
        key = fingerprint(url)
        if key not in seen:
            seen.add(key)
            result.append(url)
    return result


# --- Validation: the portal file, the dashboard and the admin share it --------------------


def check_notify(value: object) -> tuple[list[str], list[tuple[str, str]]]:
    """(clean list, problems as (place, message)) for a portal's `notify`."""
    if not isinstance(value, list):
        return [], [("notify", "must be a list of channel URLs")]
    if len(value) > MAX_CHANNELS:
        return [], [("notify", f"at most {MAX_CHANNELS} channels")]
    clean, problems = [], []
    for position, url in enumerate(value):
        try:
            clean.append(validate_channel_url(url, allow_http=settings.BOTWATCH_ALLOW_HTTP))
        except ChannelURLError as exc:
            problems.append((f"notify[{position}]", str(exc)))
    return clean, problems


def check_notify_mode(value: object) -> list[tuple[str, str]]:
    if value in NOTIFY_MODES:
        return []
    return [("notify_mode", f"must be one of {', '.join(NOTIFY_MODES)}")]


def check_routes(value: object) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(clean mapping, problems) for `routes: {class: [URL or email, ...]}`."""
    if not isinstance(value, dict):
        return {}, [("routes", "must be a mapping of a status to a list of channel URLs or email addresses")]
    clean, problems = {}, []
    for route, targets in value.items():
        place = f"routes.{route}"
        if route not in ROUTE_CLASSES:
            problems.append((place, f"unknown status class (known: {', '.join(ROUTE_CLASSES)})"))
            continue
        if not isinstance(targets, list) or not targets or len(targets) > MAX_CHANNELS:
            problems.append((place, f"must be a list of 1 to {MAX_CHANNELS} channel URLs or email addresses"))
            continue
        clean[str(route)] = []
        for position, target in enumerate(targets):
            message = _route_target_problem(target)
            if message:
                problems.append((f"{place}[{position}]", message))
            else:
                clean[str(route)].append(target.strip())
    return clean, problems


def _route_target_problem(target: object) -> str:
    if isinstance(target, str) and is_channel_url(target):
        try:
            validate_channel_url(target, allow_http=settings.BOTWATCH_ALLOW_HTTP)
        except ChannelURLError as exc:
            return str(exc)
        return ""
    try:
        validate_email(target)
    except (ValidationError, TypeError):
        return f"{str(target)[:80]!r} is neither a channel URL nor an email address"
    return ""


def check_channel_settings(item: dict) -> list[tuple[str, str]]:
    """Problems of the channel keys of one portal (file entry or form data): notify, notify_mode, routes."""
    problems = []
    if "notify" in item:
        problems += check_notify(item["notify"])[1]
    if "notify_mode" in item:
        problems += check_notify_mode(item["notify_mode"])
    if "routes" in item:
        problems += check_routes(item["routes"])[1]
    return problems


def apply_channel_settings(portal: Portal, item: dict) -> None:
    """Sets the given keys on the (unsaved) portal; a key left out keeps what is stored."""
    if "notify" in item:
        portal.notify = check_notify(item["notify"])[0]
    if "notify_mode" in item:
        portal.notify_mode = item["notify_mode"]
    if "routes" in item:
        portal.routes = check_routes(item["routes"])[0]


def export_channel_settings(portal: Portal, *, with_secrets: bool) -> dict:
    """The portal file's channel keys: the URLs only with secrets (left out, a re-import keeps them)."""
    item: dict = {}
    if portal.notify_mode != NotifyMode.ADD:
        item["notify_mode"] = portal.notify_mode
    if with_secrets and portal.notify:
        item["notify"] = list(portal.notify)
    if with_secrets and portal.routes:
        item["routes"] = {route: list(targets) for route, targets in portal.routes.items()}
    return item
