"""Loading a portal file (docs/portal-file.md): parse, validate and import (one transaction, idempotent upsert).

Validation collects every problem with its place (`portals[2].bots[0]: ...`) before anything is
written; the import then runs in one transaction, so a bad file changes nothing. The API imports
one portal at a time through the same validator (`import_portal`), its problems keyed by field.
Export: checks.portal_file.export.
"""

import json
from dataclasses import dataclass, field

import yaml
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from checks.alerts.channels import apply_channel_settings, ensure_portal_channels
from checks.alerts.credentials import refresh_credential_warnings
from checks.alerts.rules import validate_thresholds
from checks.models import AuditLog, AuthType, Bot, BotEvent, Portal
from checks.net import addresses
from checks.portal_file.bounded import LimitError, load_json, load_yaml
from checks.portal_file.expectations import validate_answer, validate_expect
from checks.portal_file.hostmove import Move
from checks.portal_file.schema import (
    MAX_PROBLEMS,
    REFRESH_KEYS,
    PortalValidator,
    validate_customer,
    validate_language,
    validate_tags,
)

# Rows per INSERT: a bot has about 40 columns, PostgreSQL takes at most 65,535 parameters
# per statement.
BATCH = 1000


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
    portal_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.portals_created)} portal(s) created, {len(self.portals_updated)} updated; "
            f"{self.bots_created} bot(s) created, {self.bots_updated} updated"
        )


def parse_portal_file(text: str, fmt: str | None = None) -> object:
    """YAML or JSON text to Python data; a syntax error names the line. Bounded (checks/portal_file/bounded.py)."""
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


def validate_portal_file(data: object, confirmed_hosts=()) -> tuple[list[dict], dict[str, Move], dict[str, Portal]]:
    """The portals of a valid file, the moves that take stored credentials to new hosts (confirmed),
    and the stored portals the file names, with their bots (what the import then writes over)."""
    listed = data.get("portals") if isinstance(data, dict) else None
    names = [p.get("name") for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    existing = stored_portals([n for n in names if isinstance(n, str)])
    validator = PortalValidator(existing, frozenset(confirmed_hosts))
    portals = validator.document(data)
    if validator.problems:
        raise PortalFileError(validator.problems, validator.located)
    return portals, validator.moves, existing


def stored_portals(names: list[str]) -> dict[str, Portal]:
    """The portals of these names with their bots, in two queries (the validator reads the bots'
    tokens, the import writes over the rows)."""
    # order_by(): Bot's default ordering joins the portal, which a prefetch by portal needs not.
    bots = Prefetch("bots", queryset=Bot.objects.order_by())
    return {p.name: p for p in Portal.objects.filter(name__in=names).order_by().prefetch_related(bots)}


def validate_portal_item(item: object) -> dict:
    """One portal entry on its own (the API): the file's checks, problems keyed from the portal down."""
    name = item.get("name") if isinstance(item, dict) else None
    existing = {p.name: p for p in Portal.objects.filter(name=name)} if isinstance(name, str) else {}
    validator = PortalValidator(existing, can_confirm=False)
    if isinstance(item, dict):
        validator.portal("", item)
    else:
        validator.problem("", "the body must be one portal: a mapping like an entry of the portal file")
    if validator.problems:
        raise PortalFileError(validator.problems, validator.located)
    return item


def upsert_portal_item(item: dict) -> ImportSummary:
    """Writes one validated portal entry and its bots (the caller holds the transaction)."""
    return write_portals([item], stored_portals([item["name"]]))


def import_portal_file(text: str, *, fmt: str | None = None, actor: str = "", send_credentials_to=()) -> ImportSummary:
    """Validate, then upsert every portal and bot in one transaction.

    send_credentials_to: hosts that portals moving there may take their stored secrets to.
    """
    data = parse_portal_file(text, fmt)
    with transaction.atomic():
        portals, moves, existing = validate_portal_file(data, send_credentials_to)
        summary = write_portals(portals, existing)
        changes = {"created": summary.portals_created, "updated": summary.portals_updated}
        if moves:  # accepted by the admin who imports: each portal's old and new hosts
            changes["credentials sent to"] = sorted({host for move in moves.values() for host in move.hosts})
            changes["moves"] = {name: move.audit() for name, move in moves.items()}
        AuditLog.objects.create(
            actor=actor or "import_portals",
            action="import",
            object_type="portal file",
            object_repr=str(summary)[:200],
            changes=changes,
        )
        ids = summary.portal_ids
        transaction.on_commit(lambda: refresh_credential_warnings(ids))
    return summary


def write_portals(items: list[dict], existing: dict[str, Portal]) -> ImportSummary:
    """Upserts validated portal entries and their bots: a few statements per thousand rows.

    `existing`: the stored portals of these names, their bots prefetched (stored_portals).
    Each row is changed in Python as a save() would have it, then written by bulk_create:
    new rows are inserted, stored ones (their primary key set) written over by ON CONFLICT
    (id) DO UPDATE of the columns the file changed. Bots are upserted by id rather than by
    (portal, code), since those unique constraints are partial and ON CONFLICT cannot name
    them. Bots the file leaves as they are are not written at all.
    """
    summary = ImportSummary()
    portals = [_portal_row(item, existing.get(item["name"]), summary) for item in items]
    # Every portal named is written, as save() did: its updated_at says when the file last set it.
    _upsert(Portal, [row for row, _ in portals], [old for _, old in portals], always=frozenset({"updated_at"}))
    summary.portal_ids = [row.pk for row, _ in portals]
    for (portal, _), item in zip(portals, items, strict=True):
        if "notify" in item or "routes" in item:
            ensure_portal_channels(portal)  # each URL a named channel of the Notifications page
    bots, accepted = {}, []
    for (portal, stored), item in zip(portals, items, strict=True):
        index = BotIndex(portal, stored=stored is not None)
        for entry in item.get("bots") or []:
            bot, before, note = _bot_row(index, entry, summary)
            bots.setdefault(id(bot), (bot, before))  # two entries may name one bot (by code, then by id)
            if note:
                accepted.append((bot, note))
    rows = list(bots.values())
    _upsert(Bot, [bot for bot, _ in rows], [before for _, before in rows], skip_unchanged=True)
    BotEvent.objects.bulk_create(
        BotEvent(bot=bot, kind=BotEvent.Kind.ID_ACCEPTED, changes=changes, note=note)
        for bot, (changes, note) in accepted
    )
    return summary


def _values(row: Portal | Bot) -> dict:
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}


def _upsert(model, rows, before, always: frozenset[str] = frozenset(), skip_unchanged: bool = False) -> None:
    """bulk_create of new rows and stored ones (`before`: their values as loaded, None for a new
    row); of a stored row, the columns that changed are updated. skip_unchanged: a stored row
    whose values are all as loaded is not written."""
    changed, written = set(always), []
    for row, old in zip(rows, before, strict=True):
        diff = {name for name, value in _values(row).items() if old[name] != value} if old is not None else None
        if diff is None or diff or not skip_unchanged:
            written.append(row)
            changed |= diff or set()
    rows = written
    if not rows:
        return
    fields = sorted(model._meta.get_field(name).name for name in changed - {"id"})
    if fields:
        model.objects.bulk_create(
            rows, batch_size=BATCH, update_conflicts=True, unique_fields=["id"], update_fields=fields
        )
    else:
        model.objects.bulk_create(rows, batch_size=BATCH)


def _portal_row(item: dict, portal: Portal | None, summary: ImportSummary) -> tuple[Portal, dict | None]:
    old = _values(portal) if portal else None
    created = portal is None
    if created:
        portal = Portal(name=item["name"])
    moved = bool(portal.url) and addresses.destination(portal.url) != addresses.destination(item["url"])
    portal.url = item["url"].rstrip("/")
    if "webhook" in item:
        block = item["webhook"]
        portal.auth_type = AuthType.WEBHOOK
        portal.webhook_user_id = block["user_id"]
        portal.webhook_code = str(block.get("code") or portal.webhook_code)
    else:
        _set_oauth(portal, item["oauth"], moved)
    probe = item.get("answer_webhook")
    portal.answer_webhook_user_id = probe["user_id"] if probe else None
    portal.answer_webhook_code = str(probe.get("code") or portal.answer_webhook_code) if probe else ""
    portal.alert_emails = list(item.get("alert_emails") or [])
    if "customer" in item:
        customer = validate_customer(item["customer"])
        portal.customer_name, portal.customer_contacts = customer["name"], customer["contacts"]
        portal.customer_notes = customer["notes"]
    if "tags" in item:
        portal.tags = validate_tags(item["tags"])
    if "language" in item:
        portal.language = validate_language(item["language"])
    if "monthly_report" in item:
        portal.monthly_report = bool(item["monthly_report"])
    portal.interval = item.get("interval")
    if "thresholds" in item:
        portal.thresholds = validate_thresholds(item["thresholds"])
    portal.paused = bool(item.get("paused", False))
    apply_channel_settings(portal, item)  # notify and routes left out keep what is stored (secrets)
    (summary.portals_created if created else summary.portals_updated).append(portal.name)
    return portal, old


def _set_oauth(portal: Portal, block: dict, moved: bool) -> None:
    portal.auth_type = AuthType.OAUTH
    portal.oauth_client_id = str(block["client_id"])
    if block.get("broker_url"):
        _set_broker(portal, block, moved)
        return
    portal.oauth_broker_url = portal.oauth_broker_secret = ""
    if block.get("refresh_token") and str(block["refresh_token"]) != portal.oauth_refresh_token:
        portal.oauth_refresh_issued_at = timezone.now()  # as far as BotWatch knows: when it was given
    for secret in REFRESH_KEYS:
        if block.get(secret):
            setattr(portal, f"oauth_{secret}", str(block[secret]))


def _set_broker(portal: Portal, block: dict, moved: bool) -> None:
    if moved or portal.oauth_broker_url != block["broker_url"]:
        # A token for another portal or from another broker: the broker's own, at the first call.
        portal.oauth_access_token, portal.oauth_expires_at = "", None
    portal.oauth_broker_url = str(block["broker_url"])
    if block.get("broker_secret"):
        portal.oauth_broker_secret = str(block["broker_secret"])
    # The app refreshes its own chain: a refresh token kept here would only be a stale copy.
    portal.oauth_client_secret = portal.oauth_refresh_token = ""
    portal.oauth_refresh_issued_at = None


class BotIndex:
    """A portal's bots by code and by id, as a lookup by either found them, kept up to date
    with the rows the import adds (a later entry that names one by its id finds it)."""

    def __init__(self, portal: Portal, stored: bool):
        self.portal = portal
        stored = portal.bots.all() if stored else []
        self.by_code = {bot.code: bot for bot in stored if bot.code}
        self.by_id = {bot.bot_id: bot for bot in stored if bot.bot_id is not None}
        self.before = {id(bot): _values(bot) for bot in stored}

    def find(self, code: str, bot_id: int | None) -> Bot | None:
        return self.by_code.get(code) if code else self.by_id.get(bot_id)

    def add(self, bot: Bot) -> None:
        if bot.code:
            self.by_code[bot.code] = bot
        if bot.bot_id is not None:
            self.by_id[bot.bot_id] = bot


def _bot_row(index: BotIndex, item: dict, summary: ImportSummary) -> tuple[Bot, dict | None, tuple | None]:
    """The bot an entry names, changed as the entry says; with its stored values, and the
    (changes, note) of an id the file accepts."""
    code = str(item.get("code") or "")
    lookup = {"code": code} if code else {"bot_id": item["id"]}
    bot = index.find(code, lookup.get("bot_id"))
    created = bot is None
    if created:
        bot = Bot(portal=index.portal, **lookup)
    accepted = None
    if "id" in item:
        bot.bot_id = item["id"]
        # The file's id is the one to verify by: it accepts a re-registered bot's new id.
        if not created and bot.pinned_id and bot.pinned_id != item["id"]:
            accepted = ({"id": [bot.pinned_id, item["id"]]}, f"new id {item['id']} accepted by the portal file")
        bot.pinned_id = item["id"]
    bot.expect = validate_expect(item.get("expect"))[0]
    bot.backlog_minutes = item.get("backlog_minutes")
    answer = validate_answer(item.get("answer"))[0]
    if answer != bot.answer:
        bot.answer_next_at = None  # a new or changed probe is due at the next check
    bot.answer = answer
    bot.silence = item.get("silence")
    if item.get("bot_token"):
        bot.bot_token = str(item["bot_token"])
    bot.enabled = bool(item.get("enabled", True))
    index.add(bot)
    if created:
        summary.bots_created += 1
    else:
        summary.bots_updated += 1
    return bot, index.before.get(id(bot)), accepted
