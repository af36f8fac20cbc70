"""The portal file (SPEC §4): validation and import (one transaction, idempotent upsert).

Validation collects every problem with its place (`portals[2].bots[0]: ...`) before anything is
written; the import then runs in one transaction, so a bad file changes nothing. The API imports
one portal at a time through the same validator (`import_portal`), its problems keyed by field.
Export: checks.portal_export.
"""

import json
from dataclasses import dataclass, field

import yaml
from django.db import transaction
from django.utils import timezone

from checks.alerts.channels import apply_channel_settings
from checks.alerts.credentials import refresh_credential_warnings
from checks.alerts.rules import validate_thresholds
from checks.bounded_load import LimitError, load_json, load_yaml
from checks.expectations import validate_expect
from checks.models import AuditLog, AuthType, Bot, BotEvent, Portal
from checks.portal_validation import MAX_PROBLEMS, REFRESH_KEYS, PortalValidator


class PortalFileError(Exception):
    """The file cannot be imported; `problems` names each one with its place."""

    def __init__(self, problems: list[str], located: list[tuple[str, str]] | None = None):
        self.count = len(problems)
        self.problems = problems[:MAX_PROBLEMS]
        if self.count > MAX_PROBLEMS:
            self.problems.append(f"... and {self.count - MAX_PROBLEMS} more problems")
        # (field, message): the same problems keyed by the field they are about, e.g.
        # ("bots[0].bot_token", "bot_token is required for webhook portals"); "" for the whole portal.
        located = located if located is not None else [("", p) for p in problems]
        self.located = located[:MAX_PROBLEMS]
        super().__init__("\n".join(self.problems))


@dataclass
class ImportSummary:
    portals_created: list[str] = field(default_factory=list)
    portals_updated: list[str] = field(default_factory=list)
    bots_created: int = 0
    bots_updated: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.portals_created)} portal(s) created, {len(self.portals_updated)} updated; "
            f"{self.bots_created} bot(s) created, {self.bots_updated} updated"
        )


def parse_portal_file(text: str, fmt: str | None = None) -> object:
    """YAML or JSON text to Python data; a syntax error names the line. Bounded (checks/bounded_load.py)."""
    try:
        if fmt == "json":
            return load_json(text)
        return load_yaml(text)
    except LimitError as exc:
        raise PortalFileError([str(exc)]) from None
    except json.JSONDecodeError as exc:
        raise PortalFileError([f"line {exc.lineno}: not valid JSON: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PortalFileError([f"{where}not valid YAML or JSON: {problem}"]) from None


def validate_portal_file(data: object, confirmed_hosts=()) -> tuple[list[dict], list[str]]:
    """The portals of a valid file, and the hosts that will get stored credentials (confirmed moves)."""
    listed = data.get("portals") if isinstance(data, dict) else None
    names = [p.get("name") for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    existing = {p.name: p for p in Portal.objects.filter(name__in=[n for n in names if isinstance(n, str)])}
    validator = PortalValidator(existing, frozenset(confirmed_hosts))
    portals = validator.document(data)
    if validator.problems:
        raise PortalFileError(validator.problems, validator.located)
    return portals, sorted(validator.credentials_sent_to)


def validate_portal_item(item: object) -> dict:
    """One portal entry on its own (the API): the file's checks, problems keyed from the portal down."""
    name = item.get("name") if isinstance(item, dict) else None
    existing = {p.name: p for p in Portal.objects.filter(name=name)} if isinstance(name, str) else {}
    validator = PortalValidator(existing)
    if isinstance(item, dict):
        validator.portal("", item)
    else:
        validator.problem("", "the body must be one portal: a mapping like an entry of the portal file")
    if validator.problems:
        raise PortalFileError(validator.problems, validator.located)
    return item


def upsert_portal_item(item: dict) -> ImportSummary:
    """Writes one validated portal entry and its bots (the caller holds the transaction)."""
    summary = ImportSummary()
    _upsert_portal(item, summary)
    return summary


def import_portal_file(text: str, *, fmt: str | None = None, actor: str = "", send_credentials_to=()) -> ImportSummary:
    """Validate, then upsert every portal and bot in one transaction.

    send_credentials_to: hosts that portals moving there may take their stored secrets to.
    """
    data = parse_portal_file(text, fmt)
    summary = ImportSummary()
    with transaction.atomic():
        portals, sent_to = validate_portal_file(data, send_credentials_to)
        for item in portals:
            _upsert_portal(item, summary)
        changes = {"created": summary.portals_created, "updated": summary.portals_updated}
        AuditLog.objects.create(
            actor=actor or "import_portals",
            action="import",
            object_type="portal file",
            object_repr=str(summary)[:200],
            changes={**changes, "credentials sent to": sent_to} if sent_to else changes,
        )
        names = summary.portals_created + summary.portals_updated
        transaction.on_commit(
            lambda: refresh_credential_warnings(
                list(Portal.objects.filter(name__in=names).values_list("pk", flat=True))
            )
        )
    return summary


def _upsert_portal(item: dict, summary: ImportSummary) -> None:
    portal = Portal.objects.filter(name=item["name"]).first()
    created = portal is None
    if created:
        portal = Portal(name=item["name"])
    portal.url = item["url"].rstrip("/")
    if "webhook" in item:
        block = item["webhook"]
        portal.auth_type = AuthType.WEBHOOK
        portal.webhook_user_id = block["user_id"]
        portal.webhook_code = str(block.get("code") or portal.webhook_code)
    else:
        _set_oauth(portal, item["oauth"])
    portal.alert_emails = list(item.get("alert_emails") or [])
    portal.interval = item.get("interval")
    if "thresholds" in item:
        portal.thresholds = validate_thresholds(item["thresholds"])
    portal.paused = bool(item.get("paused", False))
    apply_channel_settings(portal, item)  # notify and routes left out keep what is stored (secrets)
    portal.save()
    (summary.portals_created if created else summary.portals_updated).append(portal.name)
    for bot in item.get("bots") or []:
        _upsert_bot(portal, bot, summary)


def _set_oauth(portal: Portal, block: dict) -> None:
    portal.auth_type = AuthType.OAUTH
    portal.oauth_client_id = str(block["client_id"])
    if block.get("broker_url"):
        _set_broker(portal, block)
        return
    portal.oauth_broker_url = portal.oauth_broker_secret = ""
    if block.get("refresh_token") and str(block["refresh_token"]) != portal.oauth_refresh_token:
        portal.oauth_refresh_issued_at = timezone.now()  # as far as BotWatch knows: when it was given
    for secret in REFRESH_KEYS:
        if block.get(secret):
            setattr(portal, f"oauth_{secret}", str(block[secret]))


def _set_broker(portal: Portal, block: dict) -> None:
    if portal.oauth_broker_url != block["broker_url"]:
        portal.oauth_access_token, portal.oauth_expires_at = "", None  # the new broker's token, at the first call
    portal.oauth_broker_url = str(block["broker_url"])
    if block.get("broker_secret"):
        portal.oauth_broker_secret = str(block["broker_secret"])
    # The app refreshes its own chain: a refresh token kept here would only be a stale copy.
    portal.oauth_client_secret = portal.oauth_refresh_token = ""
    portal.oauth_refresh_issued_at = None


def _upsert_bot(portal: Portal, item: dict, summary: ImportSummary) -> None:
    code = str(item.get("code") or "")
    lookup = {"code": code} if code else {"bot_id": item["id"]}
    bot = Bot.objects.filter(portal=portal, **lookup).first()
    created = bot is None
    if created:
        bot = Bot(portal=portal, **lookup)
    accepted = None
    if "id" in item:
        bot.bot_id = item["id"]
        # The file's id is the one to verify by: it accepts a re-registered bot's new id.
        if not created and bot.pinned_id and bot.pinned_id != item["id"]:
            accepted = {"id": [bot.pinned_id, item["id"]]}
        bot.pinned_id = item["id"]
    bot.expect = validate_expect(item.get("expect"))[0]
    bot.backlog_minutes = item.get("backlog_minutes")
    if item.get("bot_token"):
        bot.bot_token = str(item["bot_token"])
    bot.enabled = bool(item.get("enabled", True))
    bot.save()
    if accepted:
        note = f"new id {item['id']} accepted by the portal file"
        BotEvent.objects.create(bot=bot, kind=BotEvent.Kind.ID_ACCEPTED, changes=accepted, note=note)
    if created:
        summary.bots_created += 1
    else:
        summary.bots_updated += 1
