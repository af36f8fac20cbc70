"""API writes of portals and bots: the portal file's validator and importer, one portal at a time.

Problems come back as DRF ValidationErrors keyed by field (`url`, `webhook.user_id`,
`bots[0].bot_token`; for a bot written on its own, `bot_token`), every write in one transaction
with its audit entry. Secrets are write-only: answers are exports without them, and the audit
log names a secret that was given, never its value.
"""

from django.db import transaction
from rest_framework.exceptions import ValidationError

from checks.alerts.credentials import refresh_credential_warnings
from checks.models import Bot, Portal
from checks.portal_file.export import export_bot, export_portal
from checks.portal_file.load import PortalFileError, upsert_portal_item, validate_portal_item
from dashboard.views.common import audit

NON_FIELD = "non_field_errors"
# Bots one request may write: its validation and upsert run inside the web request, so a request
# of any size would hold a web worker for as long as it takes (20,000 bots: 14 s). More bots go in
# further requests (PATCH adds and updates the bots it names), or in the portal file.
MAX_BOTS_PER_REQUEST = 1000
SECRET_PATHS = (
    ("webhook", "code"),
    ("oauth", "client_secret"),
    ("oauth", "access_token"),
    ("oauth", "refresh_token"),
    ("oauth", "broker_secret"),
)


def field_errors(located: list[tuple[str, str]], strip: str = "") -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, message in located:
        if strip and (field == strip or field.startswith(strip + ".")):
            field = field[len(strip) :].lstrip(".")
        errors.setdefault(field or NON_FIELD, []).append(message)
    return errors


def require_mapping(body: object, what: str) -> dict:
    if not isinstance(body, dict):
        raise ValidationError({NON_FIELD: [f"the body must be a JSON object: {what}"]})
    return dict(body)


def save_portal(request, body: object, *, name: str | None = None, create: bool = False) -> tuple[Portal, bool]:
    """Creates or updates one portal from a portal-file entry; (portal, created)."""
    item = require_mapping(body, "one portal, like an entry of the portal file")
    if "portals" in item:
        raise ValidationError({NON_FIELD: ["one portal, not a whole portal file: send each entry of portals alone"]})
    if name is not None:
        if "name" in item and item["name"] != name:
            raise ValidationError({"name": [f"must be {name!r}, the portal in the address, or be left out"]})
        item["name"] = name
    with transaction.atomic():
        stored = Portal.objects.filter(name=item["name"]).first() if isinstance(item.get("name"), str) else None
        existing = stored is not None
        if create and existing:
            path = f"/api/v1/portals/{item['name']}"
            raise ValidationError({"name": [f"a portal named {item['name']!r} exists: PUT or PATCH {path} changes it"]})
        _validate(item)
        summary = upsert_portal_item(item)
        portal = Portal.objects.get(name=item["name"])
        audit(request, "edit portal" if existing else "add portal", portal, _changes(item, summary, stored, portal))
        transaction.on_commit(lambda: refresh_credential_warnings([portal.pk]))
    return portal, not existing


def _validate(item: dict, strip: str = "") -> None:
    bots = item.get("bots")
    if isinstance(bots, list) and len(bots) > MAX_BOTS_PER_REQUEST:
        raise ValidationError(
            {
                "bots": [
                    f"at most {MAX_BOTS_PER_REQUEST:,} bots in one request ({len(bots):,} given): send the others "
                    "in further requests (PATCH adds and updates the bots it names), or import a portal file"
                ]
            }
        )
    try:
        validate_portal_item(item)
    except PortalFileError as exc:
        raise ValidationError(field_errors(exc.located, strip)) from None


def _changes(item: dict, summary, before: Portal | None, after: Portal) -> dict:
    changes: dict = {"keys": sorted(k for k in item if k != "bots")}
    for key, name in (("url", "url"), ("broker_url", "oauth_broker_url")):
        if before is not None and getattr(before, name) != getattr(after, name):
            changes[key] = [getattr(before, name), getattr(after, name)]
    given = [f"{block}.{key}" for block, key in SECRET_PATHS if (item.get(block) or {}).get(key)]
    tokens = [str(b.get("code") or b.get("id")) for b in item.get("bots") or [] if b.get("bot_token")]
    if given:
        changes["secrets changed"] = given
    if item.get("bots"):
        changes["bots"] = {"created": summary.bots_created, "updated": summary.bots_updated, "tokens changed": tokens}
    return changes


def patched_portal(portal: Portal, body: object) -> dict:
    """The stored portal (no secrets) with the body's keys over it; webhook and oauth merge one level deep."""
    patch = require_mapping(body, "the portal's keys to change")
    item = export_portal(portal)
    item["bots"] = []  # only the bots the patch names are written (an upsert: the others stay)
    for block, other in (("webhook", "oauth"), ("oauth", "webhook")):
        if not isinstance(patch.get(block), dict):
            continue
        if other in item:  # switching the kind of auth: the new block alone
            del item[other]
            item[block] = dict(patch[block])
        else:
            item[block] = {**item.get(block, {}), **patch[block]}
    item.update({k: v for k, v in patch.items() if not (k in ("webhook", "oauth") and isinstance(v, dict))})
    return item


def save_bot(request, portal: Portal, body: object, *, bot: Bot | None = None) -> tuple[Bot, bool]:
    """Adds or changes one bot of `portal` (a portal-file bot entry; with `bot`, the body's keys over it)."""
    entry = require_mapping(body, "one bot, like an entry of a portal's bots in the portal file")
    if bot is not None:
        current = export_bot(bot, portal)
        for key in ("code", "id") if bot.code else ("code",):
            if key in entry and entry[key] != current.get(key):
                raise ValidationError({key: [f"cannot be changed; delete the bot and add it again ({key} names it)"]})
        entry = {**current, **entry}
    item = {**export_portal(portal), "bots": [entry]}
    with transaction.atomic():
        _validate(item, strip="bots[0]")
        before = set(portal.bots.values_list("pk", flat=True))
        upsert_portal_item(item)
        saved = _find_saved(portal, entry)
        created = saved.pk not in before
        changes = {"keys": sorted(entry), "bot token changed": bool(entry.get("bot_token"))}
        audit(request, "add bot" if created else "edit bot", saved, changes, label=f"{saved.label} on {portal.name}")
        transaction.on_commit(lambda: refresh_credential_warnings([portal.pk]))
    return saved, created


def _find_saved(portal: Portal, entry: dict) -> Bot:
    rows = Bot.objects.select_related("portal").filter(portal=portal)
    # As checks.portal_file.load finds it: by code, else by id.
    return rows.get(code=str(entry["code"])) if entry.get("code") else rows.get(bot_id=entry["id"])
