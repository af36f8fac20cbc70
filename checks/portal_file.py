"""The portal file (SPEC §4): validation and import (one transaction, idempotent upsert).

Validation collects every problem with its place (`portals[2].bots[0]: ...`) before anything is
written; the import then runs in one transaction, so a bad file changes nothing. The API imports
one portal at a time through the same validator (`import_portal`), its problems keyed by field.
Export: checks.portal_export.
"""

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.utils import timezone

from checks.alerts.credentials import refresh_credential_warnings
from checks.alerts.rules import validate_thresholds
from checks.expectations import validate_backlog_minutes, validate_expect
from checks.models import AuditLog, AuthType, Bot, BotEvent, Portal

PORTAL_KEYS = {"name", "url", "webhook", "oauth", "alert_emails", "interval", "thresholds", "paused", "bots"}
WEBHOOK_KEYS = {"user_id", "code"}
OAUTH_KEYS = {"client_id", "client_secret", "access_token", "refresh_token", "broker_url", "broker_secret"}
REFRESH_KEYS = ("client_secret", "access_token", "refresh_token")
BOT_KEYS = {"code", "id", "bot_token", "enabled", "expect", "backlog_minutes"}
ALL_KEYS = PORTAL_KEYS | WEBHOOK_KEYS | OAUTH_KEYS | BOT_KEYS
MIN_INTERVAL = 30
HTTPS_HINT = "Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PortalFileError(Exception):
    """The file cannot be imported; `problems` names each one with its place."""

    def __init__(self, problems: list[str], located: list[tuple[str, str]] | None = None):
        self.problems = problems
        # (field, message): the same problems keyed by the field they are about, e.g.
        # ("bots[0].bot_token", "bot_token is required for webhook portals"); "" for the whole portal.
        self.located = located if located is not None else [("", p) for p in problems]
        super().__init__("\n".join(problems))


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
    """YAML or JSON text to Python data; a syntax error names the line."""
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PortalFileError([f"line {exc.lineno}: not valid JSON: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PortalFileError([f"{where}not valid YAML or JSON: {problem}"]) from None


class _Validator:
    def __init__(self, existing: dict[str, Portal]):
        self.problems: list[str] = []
        self.located: list[tuple[str, str]] = []
        self.existing = existing

    def problem(self, where: str, message: str, key: str | None = None) -> None:
        where = where.lstrip(".")  # one portal on its own (the API) has no `portals[i]` in front
        self.problems.append(f"{where}: {message}" if where else message)
        # Most messages start with the key they are about ("bot_token is required ...").
        first = message.split(" ", 1)[0]
        key = key or (first if first in ALL_KEYS else "")
        self.located.append((".".join(part for part in (where, key) if part), message))

    def unknown_keys(self, where: str, item: dict, allowed: set[str]) -> None:
        for key in sorted(set(item) - allowed):
            self.problem(where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})", key=str(key))

    def text(self, where: str, item: dict, key: str, required: bool) -> str:
        value = item.get(key)
        if value is None or value == "":
            if required:
                self.problem(where, f"{key} is required")
            return ""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            self.problem(where, f"{key} must be a string")
            return ""
        return str(value)

    def document(self, data: object) -> list[dict]:
        if not isinstance(data, dict) or "portals" not in data:
            self.problem("file", "the top level must be a mapping with a 'portals' list")
            return []
        self.unknown_keys("file", data, {"portals"})
        portals = data["portals"]
        if not isinstance(portals, list):
            self.problem("portals", "must be a list")
            return []
        seen: set[str] = set()
        for index, item in enumerate(portals):
            where = f"portals[{index}]"
            if not isinstance(item, dict):
                self.problem(where, "must be a mapping")
                continue
            self.portal(where, item)
            name = item.get("name")
            if isinstance(name, str) and name in seen:
                self.problem(where, f"name {name!r} appears twice in the file")
            seen.add(name)
        return portals

    def portal(self, where: str, item: dict) -> None:
        self.unknown_keys(where, item, PORTAL_KEYS)
        name = self.text(where, item, "name", required=True)
        if name:
            try:
                validate_slug(name)
            except ValidationError:
                self.problem(where, f"name {name!r} may only hold letters, digits, '-' and '_'")
        self.address(where, self.text(where, item, "url", required=True), "url")
        existing = self.existing.get(name)
        auth = self.auth(where, item, existing)
        self.emails(where, item.get("alert_emails"))
        interval = item.get("interval")
        if interval is not None and (
            not isinstance(interval, int) or isinstance(interval, bool) or interval < MIN_INTERVAL
        ):
            self.problem(where, f"interval must be a whole number of seconds, at least {MIN_INTERVAL}")
        if "thresholds" in item:
            try:
                validate_thresholds(item["thresholds"])
            except ValueError as exc:
                self.problem(where, str(exc), key="thresholds")
        if "paused" in item and not isinstance(item["paused"], bool):
            self.problem(where, "paused must be true or false")
        self.bots(where, item.get("bots"), auth, existing)

    def address(self, where: str, url: str, key: str) -> None:
        if not url:
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(where, f"{key} {url!r} must be an https:// address with a host name")
        elif parts.scheme == "http" and not settings.BOTWATCH_ALLOW_HTTP:
            self.problem(where, f"{key} must use https:// ({HTTPS_HINT})")

    def auth(self, where: str, item: dict, existing: Portal | None) -> str:
        has_webhook, has_oauth = "webhook" in item, "oauth" in item
        if has_webhook == has_oauth:
            self.problem(where, "give exactly one of webhook or oauth")
            return ""
        key = "webhook" if has_webhook else "oauth"
        block = item[key]
        if not isinstance(block, dict):
            self.problem(f"{where}.{key}", "must be a mapping")
            return ""
        keeps = existing is not None and existing.auth_type == key
        if has_webhook:
            self.unknown_keys(f"{where}.webhook", block, WEBHOOK_KEYS)
            user_id = block.get("user_id")
            if not (_is_int(user_id) and user_id >= 1):
                self.problem(f"{where}.webhook", "user_id must be a positive whole number")
            self.text(f"{where}.webhook", block, "code", required=not (keeps and existing.webhook_code))
            return AuthType.WEBHOOK
        self.unknown_keys(f"{where}.oauth", block, OAUTH_KEYS)
        self.text(f"{where}.oauth", block, "client_id", required=True)
        if block.get("broker_url"):
            self.broker(f"{where}.oauth", block, keeps and bool(existing.oauth_broker_secret))
            return AuthType.OAUTH
        for secret in REFRESH_KEYS:
            stored = keeps and not existing.oauth_broker_url and getattr(existing, f"oauth_{secret}")
            self.text(f"{where}.oauth", block, secret, required=not stored)
        if block.get("broker_secret"):
            self.problem(f"{where}.oauth", "broker_secret goes with broker_url")
        return AuthType.OAUTH

    def broker(self, where: str, block: dict, secret_stored: bool) -> None:
        """A token broker instead of a refresh token (SPEC §10): BotWatch then never refreshes."""
        self.address(where, self.text(where, block, "broker_url", required=True), "broker_url")
        self.text(where, block, "broker_secret", required=not secret_stored)
        for key in REFRESH_KEYS:
            if block.get(key):
                self.problem(where, f"{key} cannot go with broker_url: the broker hands out the access token")

    def emails(self, where: str, emails: object) -> None:
        if emails is None:
            return
        if not isinstance(emails, list):
            self.problem(where, "alert_emails must be a list of email addresses")
            return
        for position, email in enumerate(emails):
            try:
                validate_email(email)
            except (ValidationError, TypeError):
                self.problem(f"{where}.alert_emails[{position}]", f"{email!r} is not an email address")

    def bots(self, where: str, bots: object, auth: str, existing: Portal | None) -> None:
        if bots is None:
            return
        if not isinstance(bots, list):
            self.problem(where, "bots must be a list")
            return
        stored = _stored_bot_tokens(existing)
        seen: set[object] = set()
        for index, bot in enumerate(bots):
            place = f"{where}.bots[{index}]"
            if not isinstance(bot, dict):
                self.problem(place, "must be a mapping")
                continue
            self.unknown_keys(place, bot, BOT_KEYS)
            code = self.text(place, bot, "code", required=False)
            bot_id = bot.get("id")
            if bot_id is not None and not (_is_int(bot_id) and bot_id >= 1):
                self.problem(place, "id must be a positive whole number")
            if not code and bot_id is None:
                self.problem(place, "code or id is required")
            key = code or bot_id
            if key in seen:
                self.problem(place, f"bot {key!r} appears twice on this portal")
            seen.add(key)
            if auth == AuthType.WEBHOOK and not bot.get("bot_token") and not stored.get(key):
                self.problem(place, "bot_token is required for webhook portals")
            if "enabled" in bot and not isinstance(bot["enabled"], bool):
                self.problem(place, "enabled must be true or false")
            self.health(place, bot)

    def health(self, place: str, bot: dict) -> None:
        for where, message in validate_expect(bot.get("expect"))[1]:
            self.problem(f"{place}.{where}", message)
        message = validate_backlog_minutes(bot.get("backlog_minutes"))
        if message:
            self.problem(f"{place}.backlog_minutes", message)


def _stored_bot_tokens(portal: Portal | None) -> dict[object, bool]:
    if portal is None:
        return {}
    return {(bot.code or bot.bot_id): bool(bot.bot_token) for bot in portal.bots.all()}


def validate_portal_file(data: object) -> list[dict]:
    listed = data.get("portals") if isinstance(data, dict) else None
    names = [p.get("name") for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    existing = {p.name: p for p in Portal.objects.filter(name__in=[n for n in names if isinstance(n, str)])}
    validator = _Validator(existing)
    portals = validator.document(data)
    if validator.problems:
        raise PortalFileError(validator.problems, validator.located)
    return portals


def validate_portal_item(item: object) -> dict:
    """One portal entry on its own (the API): the file's checks, problems keyed from the portal down."""
    name = item.get("name") if isinstance(item, dict) else None
    existing = {p.name: p for p in Portal.objects.filter(name=name)} if isinstance(name, str) else {}
    validator = _Validator(existing)
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


def import_portal_file(text: str, *, fmt: str | None = None, actor: str = "") -> ImportSummary:
    """Validate, then upsert every portal and bot in one transaction."""
    data = parse_portal_file(text, fmt)
    summary = ImportSummary()
    with transaction.atomic():
        portals = validate_portal_file(data)
        for item in portals:
            _upsert_portal(item, summary)
        AuditLog.objects.create(
            actor=actor or "import_portals",
            action="import",
            object_type="portal file",
            object_repr=str(summary)[:200],
            changes={"created": summary.portals_created, "updated": summary.portals_updated},
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
