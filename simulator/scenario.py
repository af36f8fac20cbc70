"""Scenario files for the simulator (YAML), and the BotWatch portal file (docs/portal-file.md) that matches one.

```yaml
defaults: {rate: 2, burst: 50, latency_ms: 0, operating_limit: 480}
portals:
  - name: acme
    webhook: {user_id: 1, code: k3y}
    apps: [{client_id: local.app1, client_secret: s3cret, days: 5, installed: true}]   # app.info: 5 days left
    # (an app with broker_secret also serves a token broker)
    auth: webhook            # which credentials the portal file gives BotWatch (default: webhook if present)
    latency_ms: 50
    batch_imbot: true
    bots:
      - {code: support_bot, token: tok1, counters: {countMessage: 10}}
      - {code: sales_bot, token: old_tok, rotated_token: new_tok}   # BotWatch keeps old_tok
      - {id: 321, app: local.app1}
      # installed but broken; expect and backlog_minutes go into the portal file as they are
      - {code: queue_bot, token: tok3, event_mode: fetch, events: {count: 40, age_s: 5400}, backlog_minutes: 15}
      - {code: help_bot, token: tok4, commands: [help], user_active: false, expect: {commands: [help, start]}}
      - {code: moved_bot, token: tok5, reregistered: true, fields: {language: de}}   # the file keeps the old id
    ownership_error_on_get: false    # true: Bot.get with a rotated token answers BOT_OWNERSHIP_ERROR
    license: de_ent250               # the plan app.info names
    webhook_user_active: false       # the webhook's user switched off: profile answers empty
    own_port: true                   # the portal listens on a port of its own too (the portal file names it)
    outage: refused                  # the whole portal down: 502, timeout or refused
    answer_webhook: {user_id: 9, code: pr0be}   # a probe user's webhook (scope im); into the portal file too
    webhook_scope: imbot             # the portal's own webhook without im: im methods insufficient_scope
    # bots: backend: how the bot's backend answers (mode answer|never|error|refuse, delay_s, texts,
    # reply, chat); answer and silence go into the portal file as they are; growth: false stops countMessage
    expected_missing: [{code: gone_bot, token: tok9}]                  # in the portal file only
    faults: [{kind: QUERY_LIMIT_EXCEEDED, probability: 0.3}]
```
Every problem is reported with its place, e.g. `portals[1].bots[0]: code or id is required`.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import yaml

from simulator import dialogs, health
from simulator.errors import FAULT_KINDS, SimulatorError, build_fault
from simulator.portal_actions import OUTAGES, app_info_problems
from simulator.portal_file import portal_file_entry


class ScenarioTarget(Protocol):
    """What applying a scenario needs of the simulator (simulator.server.Simulator is one)."""

    def add_portal(self, name: str, **options) -> Any: ...
    def add_oauth_app(self, portal: str, **options) -> Any: ...
    def add_broker(self, portal: str, client_id: str, secret: str) -> Any: ...
    def add_bot(self, portal: str, **options) -> Any: ...
    def rotate_bot_token(self, portal: str, bot: str, **options) -> Any: ...
    def update_bot(self, portal: str, bot: int, fields: dict) -> Any: ...
    def set_commands(self, portal: str, bot: int, commands: list) -> Any: ...
    def set_bot_user_active(self, portal: str, bot: int, active: bool) -> Any: ...
    def add_events(self, portal: str, bot: int, **options) -> Any: ...
    def reregister_bot(self, portal: str, bot: int, **options) -> Any: ...
    def inject_fault(self, portal: str, kind: str, **options) -> Any: ...
    def set_app_info(self, portal: str, client_id: str, **options) -> Any: ...
    def set_webhook_user_active(self, portal: str, active: bool) -> Any: ...
    def set_outage(self, portal: str, kind: str | None) -> Any: ...
    def set_answer(self, portal: str, bot: int | str, mode: str | None = "answer", **options) -> Any: ...
    def add_webhook(self, portal: str, user_id: int, code: str, scope: str = "im") -> Any: ...
    def set_webhook_scope(self, portal: str, scope: str) -> Any: ...
    def portal_url(self, portal: str) -> str: ...


NUMBERS = ("rate", "burst", "latency_ms", "operating_limit", "processing_s")
PORTAL_KEYS = {
    "name",
    "webhook",
    "apps",
    "auth",
    "bots",
    "expected_missing",
    "faults",
    "batch_imbot",
    "rest_available",
    "on_premise",
    "legacy",
    "ownership_error_on_get",
    "license",
    "webhook_user_active",
    "own_port",
    "outage",
    "answer_webhook",
    "webhook_scope",
}
APP_KEYS = {"client_id", "client_secret", "broker_secret", "days", "installed", "status"}
BOT_KEYS = {"code", "id", "token", "app", "rotated_token", "counters", "type", "language", "name", "growth"}
HEALTH_KEYS = {"event_mode", "user_active", "commands", "events", "fields", "reregistered", "expect", "backlog_minutes"}
ANSWER_KEYS = {"backend", "answer", "silence"}
EVENTS_KEYS = {"count", "age_s", "type"}
FAULT_KEYS = {"kind", "bot", "times", "probability", "method", "sleep_s", "code", "http_status", "description"}
COUNTERS = {"countMessage", "countCommand", "countChat", "countUser"}


class ScenarioError(SimulatorError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def load_scenario_file(path: str | Path) -> dict:
    """Reads and validates a scenario file; ScenarioError lists every problem with its place."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{path}: not valid YAML: {exc}"]) from None
    return validate_scenario(data)


def validate_scenario(data: Any) -> dict:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ScenarioError(["scenario: must be a mapping with a `portals` list"])
    for key in sorted(set(data) - {"defaults", "portals"}):
        problems.append(f"{key}: unknown key (expected defaults, portals)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append("defaults: must be a mapping")
        defaults = {}
    _check_numbers(defaults, "defaults", problems)
    for key in sorted(set(defaults) - set(NUMBERS)):
        problems.append(f"defaults.{key}: unknown key (expected {', '.join(NUMBERS)})")
    portals = data.get("portals")
    if not isinstance(portals, list):
        problems.append("portals: a list of portals is required")
        portals = []
    names: set[str] = set()
    for i, portal in enumerate(portals):
        _check_portal(portal, f"portals[{i}]", names, problems)
    if problems:
        raise ScenarioError(problems)
    return {"defaults": defaults, "portals": portals}


def _check_numbers(mapping: dict, place: str, problems: list[str]) -> None:
    for key in NUMBERS:
        value = mapping.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            problems.append(f"{place}.{key}: must be a non-negative number")


def _check_portal(portal: Any, place: str, names: set[str], problems: list[str]) -> None:
    if not isinstance(portal, dict):
        problems.append(f"{place}: must be a mapping")
        return
    for key in sorted(set(portal) - PORTAL_KEYS - set(NUMBERS)):
        problems.append(f"{place}.{key}: unknown key")
    name = portal.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("_") or name == "oauth":
        problems.append(f"{place}.name: a portal name (one path segment) is required")
    elif name in names:
        problems.append(f"{place}.name: portal {name!r} is listed twice")
    else:
        names.add(name)
    _check_numbers(portal, place, problems)
    webhook = portal.get("webhook")
    if webhook is not None and (
        not isinstance(webhook, dict)
        or not isinstance(webhook.get("user_id"), int)
        or not isinstance(webhook.get("code"), str)
        or not webhook["code"]
    ):
        problems.append(f"{place}.webhook: needs user_id (integer) and code (string)")
    apps = _check_apps(portal.get("apps") or [], place, problems)
    if webhook is None and not apps:
        problems.append(f"{place}: needs a webhook or at least one app")
    auth = portal.get("auth")
    if auth not in (None, "webhook", "oauth"):
        problems.append(f"{place}.auth: must be webhook or oauth")
    elif (auth == "oauth" and not apps) or (auth == "webhook" and webhook is None):
        problems.append(f"{place}.auth: {auth} needs {'apps' if auth == 'oauth' else 'a webhook'}")
    _check_bots(portal.get("bots") or [], f"{place}.bots", apps, problems)
    needs_token = auth == "webhook" or (auth is None and webhook is not None)
    _check_missing(portal.get("expected_missing") or [], f"{place}.expected_missing", needs_token, problems)
    _check_faults(portal.get("faults") or [], f"{place}.faults", problems)
    if "outage" in portal and str(portal["outage"]) not in OUTAGES:
        problems.append(f"{place}.outage: one of {', '.join(OUTAGES)}")
    for key in ("ownership_error_on_get", "webhook_user_active", "own_port"):
        if not isinstance(portal.get(key, False), bool):
            problems.append(f"{place}.{key}: must be true or false")
    probe = portal.get("answer_webhook")
    if probe is not None and (
        not isinstance(probe, dict)
        or not isinstance(probe.get("user_id"), int)
        or not isinstance(probe.get("code"), str)
    ):
        problems.append(f"{place}.answer_webhook: needs user_id (integer) and code (string)")
    if "license" in portal and (not isinstance(portal["license"], str) or not portal["license"].strip()):
        problems.append(f"{place}.license: a plan name such as en_ent250")


def _check_apps(apps: Any, place: str, problems: list[str]) -> set[str]:
    if not isinstance(apps, list):
        problems.append(f"{place}.apps: must be a list")
        return set()
    ids = set()
    for j, app in enumerate(apps):
        if not isinstance(app, dict) or not all(isinstance(app.get(k), str) for k in ("client_id", "client_secret")):
            problems.append(f"{place}.apps[{j}]: client_id and client_secret (strings) are required")
            continue
        if not isinstance(app.get("broker_secret", ""), str):
            problems.append(f"{place}.apps[{j}].broker_secret: must be a string")
            continue
        ids.add(app["client_id"])
        for key in sorted(set(app) - APP_KEYS):
            problems.append(f"{place}.apps[{j}].{key}: unknown key (expected {', '.join(sorted(APP_KEYS))})")
        for problem in app_info_problems(app.get("days"), app.get("installed"), app.get("status")):
            problems.append(f"{place}.apps[{j}]: {problem}")
    return ids


def _check_bots(bots: Any, place: str, apps: set[str], problems: list[str]) -> None:
    if not isinstance(bots, list):
        problems.append(f"{place}: must be a list")
        return
    seen: set = set()
    for j, bot in enumerate(bots):
        where = f"{place}[{j}]"
        if not isinstance(bot, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        for key in sorted(set(bot) - BOT_KEYS - HEALTH_KEYS - ANSWER_KEYS):
            problems.append(f"{where}.{key}: unknown key")
        if bot.get("code") in (None, "") and bot.get("id") is None:
            problems.append(f"{where}: code or id is required")
        if bot.get("id") is not None and (not isinstance(bot["id"], int) or isinstance(bot["id"], bool)):
            problems.append(f"{where}.id: must be an integer")
        for ref in (bot.get("code"), bot.get("id")):
            if ref is not None and ref in seen:
                problems.append(f"{where}: bot {ref!r} is listed twice")
            seen.add(ref)
        if (bot.get("token") is None) == (bot.get("app") is None):
            problems.append(f"{where}: exactly one of token (webhook-registered) or app (OAuth-registered)")
        elif bot.get("app") is not None and bot["app"] not in apps:
            problems.append(f"{where}.app: {bot['app']!r} is not one of this portal's apps")
        if bot.get("rotated_token") is not None and bot.get("token") is None:
            problems.append(f"{where}.rotated_token: only a bot with a token can have it rotated")
        counters = bot.get("counters") or {}
        if not isinstance(counters, dict) or not all(
            k in COUNTERS and isinstance(v, int) and v >= 0 for k, v in counters.items()
        ):
            problems.append(f"{where}.counters: a mapping of {', '.join(sorted(COUNTERS))} to non-negative integers")
        _check_health(bot, where, problems)
        if bot.get("backend") is not None:
            if not isinstance(bot["backend"], dict):
                problems.append(f"{where}.backend: a mapping of mode, delay_s, texts, reply, chat")
            else:
                _problem_of(f"{where}.backend", problems, lambda b: dialogs.build_behaviour(**b), bot["backend"])


def _check_health(bot: dict, where: str, problems: list[str]) -> None:
    """The keys that make a bot installed but broken, and what BotWatch should expect of it."""
    if bot.get("event_mode") not in (None, *health.EVENT_MODES):
        problems.append(f"{where}.event_mode: must be webhook or fetch")
    for key in ("user_active", "reregistered"):
        if bot.get(key) is not None and not isinstance(bot[key], bool):
            problems.append(f"{where}.{key}: must be true or false")
    if bot.get("commands") is not None:
        _problem_of(f"{where}.commands", problems, health.build_commands, bot["commands"], 0, 1)
    events = bot.get("events")
    if events is not None:
        if not isinstance(events, dict) or set(events) - EVENTS_KEYS:
            problems.append(f"{where}.events: a mapping of count (and age_s, type) is required")
        else:
            args = (events.get("count"), events.get("age_s", 0), events.get("type", "ONIMBOTV2MESSAGEADD"))
            _problem_of(f"{where}.events", problems, health.check_event_args, *args)
    if bot.get("fields") is not None:
        _problem_of(f"{where}.fields", problems, health.check_config_fields, bot["fields"])
    minutes = bot.get("backlog_minutes")
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1):
        problems.append(f"{where}.backlog_minutes: must be a positive whole number of minutes")
    _check_expect(bot.get("expect"), f"{where}.expect", problems)


def _check_expect(expect: Any, where: str, problems: list[str]) -> None:
    if expect is None:
        return
    if not isinstance(expect, dict) or not expect:
        problems.append(f"{where}: a mapping of config fields ({', '.join(health.CONFIG_FIELDS)}) and/or commands")
        return
    commands = expect.get("commands")
    if "commands" in expect and (
        not isinstance(commands, list) or not all(isinstance(c, str) and c.strip() for c in commands)
    ):
        problems.append(f"{where}.commands: a list of command names")
    fields = {k: v for k, v in expect.items() if k != "commands"}
    _problem_of(where, problems, health.check_config_fields, fields)


def _problem_of(where: str, problems: list[str], check: Callable, *args: Any) -> None:
    """Runs one of simulator.health's checks; its SimulatorError becomes a problem at `where`."""
    try:
        check(*args)
    except SimulatorError as exc:
        problems.append(f"{where}: {exc}")


def _check_missing(entries: Any, place: str, needs_token: bool, problems: list[str]) -> None:
    if not isinstance(entries, list):
        problems.append(f"{place}: must be a list")
        return
    for j, entry in enumerate(entries):
        if not isinstance(entry, dict) or (entry.get("code") in (None, "") and entry.get("id") is None):
            problems.append(f"{place}[{j}]: code or id is required")
        elif needs_token and not isinstance(entry.get("token"), str):
            problems.append(f"{place}[{j}]: token is required for a webhook portal")


def _check_faults(faults: Any, place: str, problems: list[str]) -> None:
    if not isinstance(faults, list):
        problems.append(f"{place}: must be a list")
        return
    for j, fault in enumerate(faults):
        where = f"{place}[{j}]"
        if not isinstance(fault, dict) or fault.get("kind") not in FAULT_KINDS:
            problems.append(f"{where}.kind: one of {', '.join(sorted(FAULT_KINDS))} is required")
            continue
        unknown = sorted(set(fault) - FAULT_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
            continue
        try:
            build_fault(**fault)
        except SimulatorError as exc:
            problems.append(f"{where}: {exc}")


def apply_scenario(sim: ScenarioTarget, scenario: dict) -> dict:
    """Creates the scenario's portals, apps, bots and faults; returns the BotWatch portal file for it."""
    defaults = scenario.get("defaults") or {}
    entries = []
    for portal in scenario["portals"]:
        tokens, first_ids = _apply_portal(sim, portal, defaults)
        entries.append(portal_file_entry(sim.portal_url(portal["name"]), portal, tokens, first_ids))
    return {"portals": entries}


def _apply_portal(sim: ScenarioTarget, portal: dict, defaults: dict) -> tuple[dict[str, dict], list[int]]:
    """Returns the apps' first tokens, and each bot's id as first registered (before any re-registration)."""
    name = portal["name"]
    webhook = portal.get("webhook")
    sim.add_portal(
        name,
        webhook_user_id=webhook["user_id"] if webhook else None,
        webhook_code=webhook["code"] if webhook else None,
        batch_imbot=portal.get("batch_imbot", True),
        rest_available=portal.get("rest_available", True),
        on_premise=portal.get("on_premise", False),
        legacy=portal.get("legacy", False),
        ownership_error_on_get=portal.get("ownership_error_on_get", False),
        license=portal.get("license", "en_pro100"),
        own_port=portal.get("own_port", False),
        **{k: portal.get(k, defaults.get(k)) for k in NUMBERS if portal.get(k, defaults.get(k)) is not None},
    )
    tokens = {
        a["client_id"]: sim.add_oauth_app(name, a["client_id"], a["client_secret"]) for a in portal.get("apps", [])
    }
    for app in portal.get("apps", []):
        if app.get("broker_secret"):  # BotWatch gets the broker, never the app's refresh token
            tokens[app["client_id"]] = sim.add_broker(name, app["client_id"], app["broker_secret"])
        info = {k: app[k] for k in ("days", "installed", "status") if app.get(k) is not None}
        if info:
            sim.set_app_info(name, app["client_id"], **info)
    if portal.get("answer_webhook"):
        probe = portal["answer_webhook"]
        sim.add_webhook(name, probe["user_id"], probe["code"], probe.get("scope", "im"))
    if portal.get("webhook_scope") is not None:
        sim.set_webhook_scope(name, str(portal["webhook_scope"]))
    if portal.get("webhook_user_active") is False:
        sim.set_webhook_user_active(name, False)
    first_ids = [_apply_bot(sim, name, bot) for bot in portal.get("bots") or []]
    for fault in portal.get("faults") or []:
        sim.inject_fault(name, **fault)
    if portal.get("outage") is not None:
        sim.set_outage(name, str(portal["outage"]))
    return tokens, first_ids


def _apply_bot(sim: ScenarioTarget, portal: str, bot: dict) -> int:
    created = sim.add_bot(
        portal,
        code=bot.get("code") or f"bot{bot['id']}",
        bot_id=bot.get("id"),
        bot_token=bot.get("token"),
        app_client_id=bot.get("app"),
        counters=bot.get("counters"),
        growth=bot.get("growth", True),
        type=bot.get("type", "bot"),
        language=bot.get("language", "en"),
        name=bot.get("name"),
        event_mode=bot.get("event_mode", "fetch"),
    )
    if bot.get("rotated_token") is not None:
        sim.rotate_bot_token(portal, created["id"], bot["rotated_token"])
    bot_id = created["id"]
    if bot.get("reregistered"):  # first, so that what follows describes the bot as it is now
        bot_id = sim.reregister_bot(portal, bot_id)["id"]
    if bot.get("fields"):
        sim.update_bot(portal, bot_id, bot["fields"])
    if bot.get("commands") is not None:
        sim.set_commands(portal, bot_id, bot["commands"])
    if bot.get("user_active") is not None:
        sim.set_bot_user_active(portal, bot_id, bot["user_active"])
    if bot.get("events"):
        sim.add_events(portal, bot_id, **bot["events"])
    if bot.get("backend"):
        sim.set_answer(portal, bot_id, **bot["backend"])
    return created["id"]
