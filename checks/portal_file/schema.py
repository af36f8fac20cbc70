"""The rules of a portal and its bots, for every way in: every problem with its place, nothing written.

The keys of the portal file, the rules of each value (an address, alert emails, a bot's code),
and the validator that checks portals, their auth, alerts, channels and bots. The importer and
the API run the validator (checks.portal_file.load); the dashboard's forms, the Django admin and
the API's documented shape take their rules and bounds from here. Each rule raises Django's
ValidationError with a message that never quotes a secret (a URL's user info, a path).
"""

import re
import reprlib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug

from checks.alerts.channels import check_channel_settings
from checks.alerts.rules import validate_thresholds
from checks.models import AuthType, Language, Portal
from checks.net import addresses
from checks.portal_file.expectations import (
    validate_answer,
    validate_backlog_minutes,
    validate_expect,
    validate_silence,
)
from checks.portal_file.hostmove import Move, find_move, secrets_left_behind

PORTAL_KEYS = {"name", "url", "webhook", "oauth", "alert_emails", "interval", "thresholds", "paused", "bots"}
PORTAL_KEYS |= {"notify", "notify_mode", "routes"}  # channels: checks.alerts.channels
PORTAL_KEYS |= {"customer", "tags"}
# What the customer sees (docs/customer-status.md): the status page's and report's language, and
# whether the monthly report is emailed.
PORTAL_KEYS |= {"language", "monthly_report"}
CUSTOMER_KEYS = {"name", "contacts", "notes"}
MAX_CUSTOMER_NAME, MAX_NOTES, MAX_TAGS = 200, 2000, 20
# Tags are words to filter by in addresses and lists: lower case, no spaces.
TAG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
PORTAL_KEYS |= {"answer_webhook"}  # the answer probe's user: checks.portal_file.expectations
WEBHOOK_KEYS = {"user_id", "code"}
OAUTH_KEYS = {"client_id", "client_secret", "access_token", "refresh_token", "broker_url", "broker_secret"}
REFRESH_KEYS = ("client_secret", "access_token", "refresh_token")
BOT_KEYS = {"code", "id", "bot_token", "enabled", "expect", "backlog_minutes", "answer", "silence"}
ALL_KEYS = PORTAL_KEYS | WEBHOOK_KEYS | OAUTH_KEYS | BOT_KEYS
MIN_INTERVAL = 30
# A bad file of 10,000 bots is 10,000 problems: the first ones say what to fix, a count the rest.
MAX_PROBLEMS = 100

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 2, 60, 60, 4, 4


def shown(value: object) -> str:
    """A value as a problem quotes it: a repr of at most 80 characters."""
    text = _short.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


HTTPS_HINT = "Bitrix24 requires HTTPS; set BOTWATCH_ALLOW_HTTP=1 to allow http"
# A bot's code as Bitrix24 takes it (imbot.v2.Bot.register `code`, "unique code for the bot within
# the application"; the docs give no alphabet): kept to what every Bitrix24 accepts and every URL,
# log line and email subject carries as it is.
BOT_CODE_MAX = 100
BOT_CODE = re.compile(r"[A-Za-z0-9_.-]+")
BOT_CODE_RULE = f"letters a-z and A-Z, digits, '_', '-' and '.', at most {BOT_CODE_MAX} characters"


# Pacing: what Bitrix24 cloud allows one portal (a leaky bucket draining 2 requests/s, 50 deep;
# 5/s and 250 on Enterprise), shared with the bot itself and every app on the same server's
# address: BotWatch keeps to the plain plans' limits. https://apidocs.bitrix24.com/limits.html
MIN_PACE_RATE, MAX_PACE_RATE = 0.05, 2.0
MAX_PACE_BURST = 50
# https://portal.bitrix24.com[/prefix]/rest/USER_ID/CODE[/method]: an incoming webhook's address, pasted whole.
_WEBHOOK_PATH = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)/rest/(?P<user>\d+)/(?P<code>[^/]+)(?:/[^/]*)?/?$")


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def with_scheme(url: str) -> str:
    """An address typed without a scheme is an https:// one (http:// only when written, and allowed)."""
    url = str(url).strip()
    return f"https://{url}" if url and "://" not in url else url


def split_webhook_url(url: str) -> tuple[str, int, str] | None:
    """(portal address, user id, code) of a whole incoming-webhook address, else None."""
    parts = urlsplit(with_scheme(url))
    match = _WEBHOOK_PATH.match(parts.path)
    if not match or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{match['prefix']}", int(match["user"]), match["code"]


def validate_portal_url(url: str) -> str:
    """The portal's address, without a trailing slash: https (or http when allowed), a host, a valid port.

    Written without a scheme, it is an https:// address.
    """
    url = with_scheme(url)
    if _has_control(url) or " " in url:
        raise ValidationError("The address must not hold spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("The address must be an https:// address with a host name.")
    if parts.scheme == "http" and not settings.BOTWATCH_ALLOW_HTTP:
        raise ValidationError(f"{HTTPS_HINT}.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("The address must not carry a user name or password; give the credentials below.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raw = parts.netloc.rsplit(":", 1)[-1][:10]
        problem = "is out of range" if raw.isdigit() else "is not a port number"
        raise ValidationError(f"Port {raw} {problem} (1-65535).")
    return url.rstrip("/")


def validate_address(url: str) -> str:
    """An address BotWatch may call: a valid portal address that the network rule allows."""
    url = validate_portal_url(url)
    if problem := addresses.portal_url_problem(url):
        raise ValidationError(f"{problem[0].upper()}{problem[1:]}.")
    return url


def validate_pace_rate(rate: float | None) -> float | None:
    if rate is not None and not MIN_PACE_RATE <= rate <= MAX_PACE_RATE:
        raise ValidationError(
            f"Requests per second must be from {MIN_PACE_RATE:g} to {MAX_PACE_RATE:g}: "
            "Bitrix24 cloud allows a portal 2 per second, shared with the bot itself."
        )
    return rate


def validate_pace_burst(burst: int | None) -> int | None:
    if burst is not None and not 1 <= burst <= MAX_PACE_BURST:
        raise ValidationError(f"The burst must be from 1 to {MAX_PACE_BURST}: Bitrix24 cloud refuses more at once.")
    return burst


def validate_interval(interval: object) -> object:
    """Seconds between checks (None: the default)."""
    if interval is not None and (
        not isinstance(interval, int) or isinstance(interval, bool) or interval < MIN_INTERVAL
    ):
        raise ValidationError(f"interval must be a whole number of seconds, at least {MIN_INTERVAL}")
    return interval


def validate_customer(value: object) -> dict:
    """`{name, contacts, notes}`, each optional: who the portal belongs to and how to reach them."""
    if not isinstance(value, dict):
        raise ValidationError("must be a mapping with name, contacts and notes")
    unknown = sorted(set(value) - CUSTOMER_KEYS)
    if unknown:
        raise ValidationError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(CUSTOMER_KEYS))})")
    name, notes = value.get("name", ""), value.get("notes", "")
    if not isinstance(name, str) or len(name) > MAX_CUSTOMER_NAME:
        raise ValidationError(f"name must be text of at most {MAX_CUSTOMER_NAME} characters")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        raise ValidationError(f"notes must be text of at most {MAX_NOTES} characters")
    contacts = value.get("contacts", [])
    if not isinstance(contacts, list):
        raise ValidationError("contacts must be a list of email addresses")
    return {"name": name.strip(), "contacts": validate_alert_emails(contacts), "notes": notes.strip()}


def validate_language(value: object) -> str:
    if value not in Language.values:
        raise ValidationError(f"must be one of {', '.join(Language.values)} (got {shown(value)})")
    return value


def validate_tags(value: object) -> list[str]:
    """A list of short lower-case words; duplicates dropped, order kept."""
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise ValidationError(f"must be a list of at most {MAX_TAGS} tags")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not TAG.fullmatch(tag.strip().lower()):
            raise ValidationError(
                f"tag {shown(tag)} may only hold lower-case letters, digits, '_', '-' and '.' (at most 32)"
            )
        if tag.strip().lower() not in tags:
            tags.append(tag.strip().lower())
    return tags


def validate_alert_emails(emails: object) -> list[str]:
    """A list of email addresses (empty: the default recipients)."""
    if emails in (None, ""):
        return []
    if not isinstance(emails, list):
        raise ValidationError("Alert emails must be a list of email addresses.")
    for email in emails:
        try:
            validate_email(email)
        except (ValidationError, TypeError):
            shown = repr(email) if len(repr(email)) <= 80 else repr(email)[:77] + "..."
            raise ValidationError(f"{shown} is not an email address.") from None
    return list(emails)


def as_problem(error: ValidationError) -> str:
    """A ValidationError as one line of a problem list: `Port 99999 is out of range (1-65535)`."""
    return " ".join(error.messages).rstrip(".")


def validate_bot_code(code: str) -> str:
    """A bot's code (empty: the bot is named by its id)."""
    if len(code) > BOT_CODE_MAX:
        raise ValidationError(f"Code is longer than {BOT_CODE_MAX} characters.")
    if _has_control(code):
        raise ValidationError("Code must not hold control characters (line breaks, tabs).")
    if code and not BOT_CODE.fullmatch(code):
        raise ValidationError(f"Code {shown(code)} may only hold {BOT_CODE_RULE}.")
    return code


def stored_bot_tokens(portal: Portal | None) -> dict[object, bool]:
    """Which stored bots, by code or id, hold a token (an entry may then leave it out)."""
    if portal is None:
        return {}
    return {(bot.code or bot.bot_id): bool(bot.bot_token) for bot in portal.bots.all()}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PortalValidator:
    def __init__(
        self, existing: dict[str, Portal], confirmed_hosts: frozenset[str] = frozenset(), can_confirm: bool = True
    ):
        self.problems: list[str] = []
        self.located: list[tuple[str, str]] = []
        self.existing = existing
        self.confirmed_hosts = confirmed_hosts  # --send-credentials-to
        self.can_confirm = can_confirm  # the API has no confirmation: its clients give the secrets again
        self.credentials_sent_to: set[str] = set()
        self.moves: dict[str, Move] = {}  # portal name -> the move accepted for it

    def problem(self, where: str, message: str, key: str | None = None) -> None:
        where = where.lstrip(".")  # one portal on its own (the API) has no `portals[i]` in front
        self.problems.append(f"{where}: {message}" if where else message)
        # Most messages start with the key they are about ("bot_token is required ...").
        first = message.split(" ", 1)[0]
        key = key or (first if first in ALL_KEYS else "")
        self.located.append((".".join(part for part in (where, key) if part), message))

    def unknown_keys(self, where: str, item: dict, allowed: set[str]) -> None:
        for key in sorted(set(item) - allowed, key=str):
            self.problem(where, f"unknown key {shown(key)} (allowed: {', '.join(sorted(allowed))})", key=str(key))

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
        url = self.address(where, self.text(where, item, "url", required=True), "url")
        if url:
            item["url"] = url  # as it is stored: https:// when the file gave no scheme
        existing = self.existing.get(name)
        self.host_move(where, item, existing, url)
        auth = self.auth(where, item, existing)
        self.emails(where, item.get("alert_emails"))
        if "customer" in item:
            self.run_rule(where, "customer", validate_customer, item["customer"])
        if "tags" in item:
            self.run_rule(where, "tags", validate_tags, item["tags"])
        try:
            validate_interval(item.get("interval"))
        except ValidationError as exc:
            self.problem(where, as_problem(exc))
        if "thresholds" in item:
            try:
                validate_thresholds(item["thresholds"])
            except ValueError as exc:
                self.problem(where, str(exc), key="thresholds")
        if "paused" in item and not isinstance(item["paused"], bool):
            self.problem(where, "paused must be true or false")
        if "monthly_report" in item and not isinstance(item["monthly_report"], bool):
            self.problem(where, "monthly_report must be true or false", key="monthly_report")
        if "language" in item:
            self.run_rule(where, "language", validate_language, item["language"])
        for place, message in check_channel_settings(item):
            self.problem(f"{where}.{place}", message)
        self.answer_webhook(where, item.get("answer_webhook"), existing)
        interval = item.get("interval") if _is_int(item.get("interval")) else None
        self.bots(where, item.get("bots"), auth, existing, interval)

    def address(self, where: str, url: str, key: str) -> str:
        """The address as stored, or "" (with a problem when it was given and is wrong)."""
        if not url:
            return ""
        try:
            return validate_address(url)
        except ValidationError as exc:
            self.problem(where, f"{key}: {as_problem(exc)}", key=key)
            return ""

    def host_move(self, where: str, item: dict, existing: Portal | None, url: str) -> None:
        """Stored secrets stay with their host: a portal moved elsewhere needs them again, or a confirmation."""
        oauth = item.get("oauth") if isinstance(item.get("oauth"), dict) else {}
        broker_url = str(oauth.get("broker_url") or "")
        move = find_move(existing, url, broker_url)
        if move is None:
            return
        auth = AuthType.WEBHOOK if "webhook" in item else AuthType.OAUTH
        blocks = {key: item[key] for key in ("webhook", "oauth", "answer_webhook") if isinstance(item.get(key), dict)}
        given = {f"{key}.{name}" for key, block in blocks.items() for name, value in block.items() if value}
        named = self.named_bots(item, existing)
        renewed = {bot.pk for bot, (_, entry) in named.items() if entry.get("bot_token")}
        places, bots = secrets_left_behind(existing, auth, bool(broker_url), given, renewed)
        kept = places + [f"bots[{named[bot][0]}].bot_token" if bot in named else f"the bot_token of {bot.label}"
                         for bot in bots]  # fmt: skip
        if not kept:
            return
        if move.accepted_by(self.confirmed_hosts):
            self.credentials_sent_to.update(move.hosts)
            self.moves[existing.name] = move
            return
        key = "url" if move.steps[0][0] == "url" else "oauth.broker_url"
        accept = f"or confirm with --send-credentials-to {','.join(move.hosts)}" if self.can_confirm else ""
        self.problem(where, f"{move.describe(existing.name)}: give {', '.join(kept)} again{', ' if accept else ''}"
                     f"{accept}", key=key)  # fmt: skip

    @staticmethod
    def named_bots(item: dict, existing: Portal) -> dict:
        """The stored bots an entry names: bot -> (index in the entry's bots, the entry)."""
        stored = list(existing.bots.all())
        by_code = {bot.code: bot for bot in stored if bot.code}
        by_id = {bot.bot_id: bot for bot in stored if bot.bot_id is not None}
        bots = item.get("bots") if isinstance(item.get("bots"), list) else []
        named = {}
        for index, entry in enumerate(bots):
            if isinstance(entry, dict):
                bot = by_code.get(entry.get("code")) if entry.get("code") else by_id.get(entry.get("id"))
                if bot is not None:
                    named.setdefault(bot, (index, entry))
        return named

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
            self.webhook_block(f"{where}.webhook", block, code_stored=keeps and bool(existing.webhook_code))
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
        """A token broker instead of a refresh token: BotWatch then never refreshes."""
        self.address(where, self.text(where, block, "broker_url", required=True), "broker_url")
        self.text(where, block, "broker_secret", required=not secret_stored)
        for key in REFRESH_KEYS:
            if block.get(key):
                self.problem(where, f"{key} cannot go with broker_url: the broker hands out the access token")

    def run_rule(self, where: str, key: str, validate, value: object) -> None:
        """Runs one of the schema's validators; its problems are placed under `key`."""
        try:
            validate(value)
        except ValidationError as exc:
            for message in exc.messages:
                self.problem(where, f"{key}: {message}", key=key)

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

    def answer_webhook(self, where: str, block: object, existing: Portal | None) -> None:
        """The probe user's incoming webhook (scope im): a user id, and its code unless one is stored."""
        if block is None:
            return
        if not isinstance(block, dict):
            self.problem(f"{where}.answer_webhook", "must be a mapping of user_id and code")
            return
        stored = existing is not None and bool(existing.answer_webhook_code)
        self.webhook_block(f"{where}.answer_webhook", block, code_stored=stored)

    def webhook_block(self, where: str, block: dict, *, code_stored: bool) -> None:
        """An incoming webhook: a user id, and its code unless one is stored."""
        self.unknown_keys(where, block, WEBHOOK_KEYS)
        user_id = block.get("user_id")
        if not (_is_int(user_id) and user_id >= 1):
            self.problem(where, "user_id must be a positive whole number")
        self.text(where, block, "code", required=not code_stored)

    def bots(self, where: str, bots: object, auth: str, existing: Portal | None, interval: int | None = None) -> None:
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
                self.problem(place, as_problem(exc), key="code")
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
            self.health(place, bot, interval)

    def health(self, place: str, bot: dict, interval: int | None = None) -> None:
        for where, message in validate_expect(bot.get("expect"))[1]:
            self.problem(f"{place}.{where}", message)
        message = validate_backlog_minutes(bot.get("backlog_minutes"))
        if message:
            self.problem(f"{place}.backlog_minutes", message)
        for where, message in validate_answer(bot.get("answer"), interval)[1]:
            self.problem(f"{place}.{where}", message)
        message = validate_silence(bot.get("silence"))
        if message:
            self.problem(f"{place}.silence", message)
