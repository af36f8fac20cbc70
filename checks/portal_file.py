"""The portal file (SPEC §4): validation, import (one transaction, idempotent upsert) and export.

Validation collects every problem with its place (`portals[2].bots[0]: ...`) before anything is
written; the import then runs in one transaction, so a bad file changes nothing.
"""

import json
import reprlib
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from checks.alerts.channels import apply_channel_settings, check_channel_settings
from checks.alerts.credentials import refresh_credential_warnings
from checks.alerts.rules import validate_thresholds
from checks.bitrix24 import netpolicy
from checks.bounded_load import LimitError, load_json, load_yaml
from checks.expectations import validate_backlog_minutes, validate_expect
from checks.hostmove import secrets_kept, stored_bot_tokens
from checks.models import AuditLog, AuthType, Bot, BotEvent, Portal
from checks.validators import as_problem, validate_alert_emails, validate_bot_code, validate_portal_url

PORTAL_KEYS = {"name", "url", "webhook", "oauth", "alert_emails", "interval", "thresholds", "paused", "bots"}
PORTAL_KEYS |= {"notify", "notify_mode", "routes"}  # channels: checks.alerts.channels
WEBHOOK_KEYS = {"user_id", "code"}
OAUTH_KEYS = {"client_id", "client_secret", "access_token", "refresh_token"}
BOT_KEYS = {"code", "id", "bot_token", "enabled", "expect", "backlog_minutes"}
MIN_INTERVAL = 30
# A bad file of 10,000 bots is 10,000 problems: the first ones say what to fix, a count the rest.
MAX_PROBLEMS = 100

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 2, 60, 60, 4, 4


def shown(value: object) -> str:
    """A value as a problem quotes it: a repr of at most 80 characters."""
    text = _short.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PortalFileError(Exception):
    """The file cannot be imported; `problems` names each one with its place."""

    def __init__(self, problems: list[str]):
        self.count = len(problems)
        self.problems = problems[:MAX_PROBLEMS]
        if self.count > MAX_PROBLEMS:
            self.problems.append(f"... and {self.count - MAX_PROBLEMS} more problems")
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


class _Validator:
    def __init__(self, existing: dict[str, Portal], confirmed_hosts: frozenset[str] = frozenset()):
        self.problems: list[str] = []
        self.existing = existing
        self.confirmed_hosts = confirmed_hosts  # --send-credentials-to
        self.credentials_sent_to: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def unknown_keys(self, where: str, item: dict, allowed: set[str]) -> None:
        for key in sorted(set(item) - allowed, key=str):
            self.problem(where, f"unknown key {shown(key)} (allowed: {', '.join(sorted(allowed))})")

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
                self.problem(where, f"name {shown(name)} appears twice in the file")
            seen.add(name)
        return portals

    def portal(self, where: str, item: dict) -> None:
        self.unknown_keys(where, item, PORTAL_KEYS)
        name = self.text(where, item, "name", required=True)
        if name:
            try:
                validate_slug(name)
            except ValidationError:
                self.problem(where, f"name {shown(name)} may only hold letters, digits, '-' and '_'")
        url = self.text(where, item, "url", required=True)
        self.url(where, url)
        existing = self.existing.get(name)
        self.host_move(where, item, existing, url)
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
                self.problem(where, str(exc))
        if "paused" in item and not isinstance(item["paused"], bool):
            self.problem(where, "paused must be true or false")
        for place, message in check_channel_settings(item):
            self.problem(f"{where}.{place}", message)
        self.bots(where, item.get("bots"), auth, existing)

    def url(self, where: str, url: str) -> None:
        if not url:
            return
        try:
            validate_portal_url(url)
        except ValidationError as exc:
            self.problem(where, f"url: {as_problem(exc)}")
            return
        if problem := netpolicy.portal_url_problem(url):
            self.problem(where, f"url: {problem}")

    def host_move(self, where: str, item: dict, existing: Portal | None, url: str) -> None:
        """Stored secrets stay with their host: a portal moved elsewhere needs them again, or a confirmation."""
        old, new = netpolicy.destination(existing.url) if existing else None, netpolicy.destination(url)
        kept = secrets_kept(item, existing) if old and new and old != new else []
        if kept and new in self.confirmed_hosts:
            self.credentials_sent_to.add(new)
        elif kept:
            self.problem(
                where, f"url moves {existing.name} from {old} to {new}: give {', '.join(kept)} again, "
                f"or confirm with --send-credentials-to {new}",
            )  # fmt: skip

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
        for secret in ("client_secret", "access_token", "refresh_token"):
            stored = keeps and getattr(existing, f"oauth_{secret}")
            self.text(f"{where}.oauth", block, secret, required=not stored)
        return AuthType.OAUTH

    def emails(self, where: str, emails: object) -> None:
        if emails is None:
            return
        if not isinstance(emails, list):
            self.problem(where, "alert_emails must be a list of email addresses")
            return
        for position, email in enumerate(emails):
            try:
                validate_alert_emails([email])
            except ValidationError as exc:
                self.problem(f"{where}.alert_emails[{position}]", as_problem(exc))

    def bots(self, where: str, bots: object, auth: str, existing: Portal | None) -> None:
        if bots is None:
            return
        if not isinstance(bots, list):
            self.problem(where, "bots must be a list")
            return
        stored = stored_bot_tokens(existing)
        seen: set[object] = set()
        for index, bot in enumerate(bots):
            place = f"{where}.bots[{index}]"
            if not isinstance(bot, dict):
                self.problem(place, "must be a mapping")
                continue
            self.unknown_keys(place, bot, BOT_KEYS)
            code = self.text(place, bot, "code", required=False)
            try:
                validate_bot_code(code)
            except ValidationError as exc:
                self.problem(place, as_problem(exc))
            bot_id = bot.get("id")
            if bot_id is not None and not (_is_int(bot_id) and bot_id >= 1):
                self.problem(place, "id must be a positive whole number")
            if not code and bot_id is None:
                self.problem(place, "code or id is required")
            key = code or bot_id
            if key in seen:
                self.problem(place, f"bot {shown(key)} appears twice on this portal")
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


def validate_portal_file(data: object, confirmed_hosts=()) -> tuple[list[dict], list[str]]:
    """The portals of a valid file, and the hosts that will get stored credentials (confirmed moves)."""
    listed = data.get("portals") if isinstance(data, dict) else None
    names = [p.get("name") for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    existing = {p.name: p for p in Portal.objects.filter(name__in=[n for n in names if isinstance(n, str)])}
    validator = _Validator(existing, frozenset(confirmed_hosts))
    portals = validator.document(data)
    if validator.problems:
        raise PortalFileError(validator.problems)
    return portals, sorted(validator.credentials_sent_to)


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
        block = item["oauth"]
        portal.auth_type = AuthType.OAUTH
        portal.oauth_client_id = str(block["client_id"])
        if block.get("refresh_token") and str(block["refresh_token"]) != portal.oauth_refresh_token:
            portal.oauth_refresh_issued_at = timezone.now()  # as far as BotWatch knows: when it was given
        for secret in ("client_secret", "access_token", "refresh_token"):
            if block.get(secret):
                setattr(portal, f"oauth_{secret}", str(block[secret]))
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
