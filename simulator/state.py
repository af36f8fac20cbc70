"""The simulated portals: bots, OAuth apps and tokens, the two limits, statistics.

Plain data guarded by the Simulator's lock; nothing here sleeps or does I/O.
"""

import json
import os
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from simulator.dialogs import AnswerBehaviour, Dialogs

EVENT_GET_LOG_SIZE = 10_000  # param-name sets of the latest Event.get calls kept in the stats (a bench sweep fits)
OPERATING_WINDOW_S = 600.0  # ten one-minute buckets (notes §3.2)
OPERATING_BUCKET_S = 60.0
ACCESS_TOKEN_LIFETIME_S = 3600


@dataclass
class BotState:
    id: int
    code: str
    client_id: str  # owner: "custom" + botToken for webhook-registered bots, else the app's client_id
    bot_token: str | None = None
    app_client_id: str | None = None
    type: str = "bot"
    language: str = "en"
    name: str = ""
    event_mode: str = "fetch"
    is_hidden: bool = False
    is_support_openline: bool = False
    is_reactions_enabled: bool = True
    background_id: str | None = None
    growth: bool = True
    counters: dict[str, int] = field(
        default_factory=lambda: {"countMessage": 0, "countCommand": 0, "countChat": 0, "countUser": 0}
    )
    user_active: bool = True  # the bot's user account; users[].active in Bot.get
    commands: list[dict] = field(default_factory=list)  # Command.list entries (simulator.health.build_commands)
    events: list[dict] = field(default_factory=list)  # fetch queue: {"id", "type", "date": epoch, "data"}
    retired_tokens: set[str] = field(default_factory=set)  # botTokens replaced by rotate_bot_token
    answer: AnswerBehaviour | None = None  # how its backend answers messages (simulator.dialogs); None: never

    def grow(self, rng: random.Random) -> None:
        """Counters move like a bot in use: a few messages per look, the rest now and then."""
        if not self.growth:
            return
        self.counters["countMessage"] += rng.randint(1, 3)
        if rng.random() < 0.2:
            self.counters["countUser"] += 1
        if rng.random() < 0.1:
            self.counters["countChat"] += 1
        if rng.random() < 0.02:
            self.counters["countCommand"] += 1

    def brief(self) -> dict:
        """The 8 common fields every caller sees (notes §1.7)."""
        return {
            "id": self.id,
            "code": self.code,
            "type": self.type,
            "isHidden": self.is_hidden,
            "isSupportOpenline": self.is_support_openline,
            "isReactionsEnabled": self.is_reactions_enabled,
            "backgroundId": self.background_id,
            "language": self.language,
        }

    def extended(self) -> dict:
        """The owner's format; no appId since Revision 35 (notes §1.7)."""
        return {**self.brief(), "moduleId": "rest", "eventMode": self.event_mode, **self.counters}

    def user(self) -> dict:
        return {"id": self.id, "active": self.user_active, "name": self.name, "bot": True, "type": "bot"}

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "code": self.code,
            "client_id": self.client_id,
            "bot_token": self.bot_token,
            "app_client_id": self.app_client_id,
            "type": self.type,
            "language": self.language,
            "event_mode": self.event_mode,
            "user_active": self.user_active,
            "counters": dict(self.counters),
            "commands": [c["command"] for c in self.commands],
            "events": len(self.events),
            "growth": self.growth,
            "answer": self.answer.as_dict() if self.answer is not None else None,
        }


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    portal: str
    client_id: str
    expires: float
    expired: bool = False  # forced by expire_access_tokens


def load_token_file(path: Path | None) -> dict[str, dict]:
    """Token pairs saved by an earlier run, keyed "portal|client_id"; a missing or broken file is no pairs."""
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_token_file(path: Path, pairs: dict[str, dict]) -> None:
    """Written whole and renamed into place, readable by the owner only: it holds live OAuth tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(pairs, out)
    os.replace(tmp, path)


@dataclass
class AppState:
    client_id: str
    client_secret: str
    scope: str = "imbot"
    installed: bool = True  # False once uninstalled: its tokens stop working
    # What app.info tells (api-reference/common/system/app-info.md): STATUS (F free, D demo, T trial,
    # P paid, L local, S subscription), INSTALLED (installFinish was called), and the end of the
    # paid or trial period behind PAYMENT_EXPIRED and DAYS (None: no period, DAYS null).
    status: str = "L"
    install_finished: bool = True
    paid_until: float | None = None
    number: int = 1  # app.info ID: the app's local id on the portal

    def as_dict(self) -> dict:
        return {
            "client_id": self.client_id,
            "installed": self.installed,
            "scope": self.scope,
            "status": self.status,
            "install_finished": self.install_finished,
            "paid_until": self.paid_until,
        }


class LeakyBucket:
    """Each request adds 1, the level drains `rate` per second; a request that would pass `burst` is refused."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.level = 0.0
        self.updated = 0.0

    def admit(self, now: float) -> bool:
        self.level = max(0.0, self.level - (now - self.updated) * self.rate)
        self.updated = now
        if self.level + 1 > self.burst:
            return False
        self.level += 1
        return True


class OperatingBudget:
    """Execution time of one method for one app or webhook over ten one-minute buckets (notes §3.2)."""

    def __init__(self):
        self.buckets: list[list[float]] = []  # [start, seconds]

    def _expire(self, now: float) -> None:
        self.buckets = [b for b in self.buckets if b[0] + OPERATING_WINDOW_S > now]

    def used(self, now: float) -> float:
        self._expire(now)
        return sum(b[1] for b in self.buckets)

    def add(self, now: float, seconds: float) -> None:
        self._expire(now)
        if not self.buckets or now - self.buckets[-1][0] >= OPERATING_BUCKET_S:
            self.buckets.append([now, 0.0])
        self.buckets[-1][1] += seconds

    def reset_at(self, now: float) -> int:
        self._expire(now)
        oldest = self.buckets[0][0] if self.buckets else now
        return int(oldest + OPERATING_WINDOW_S)


def new_stats() -> dict:
    return {
        "requests": 0,
        "by_http_status": Counter(),
        "rate_limited": 0,
        "operating_limited": 0,
        "batch_requests": 0,
        "oauth_refreshes": 0,
        "broker_calls": 0,  # token broker answers (simulator.broker), and the refreshes the app made for them
        "broker_refreshes": 0,
        "faults_fired": 0,
        "outage_refused": 0,  # requests that met a portal-wide outage (set_outage)
        "methods": Counter(),
        "event_get_params": deque(maxlen=EVENT_GET_LOG_SIZE),  # sorted param names of each Event.get, batch too
        "event_get_with_offset": 0,  # Event.get calls that carried an offset (any case)
        "events_deleted": 0,  # acknowledged by an offset, so deleted
        "events_expired": 0,  # older than 24 h, dropped without notice
        "in_flight": 0,
        "max_in_flight": 0,
        "requests_with_cookie": 0,
    }


def export_stats(stats: dict) -> dict:
    out = dict(stats)
    out["by_http_status"] = dict(sorted(stats["by_http_status"].items()))
    out["methods"] = dict(sorted(stats["methods"].items()))
    out["event_get_params"] = [list(names) for names in stats["event_get_params"]]
    return out


@dataclass
class PortalState:
    name: str
    webhook_user_id: int | None
    webhook_code: str | None
    bucket: LeakyBucket
    operating_limit: float
    latency_ms: float = 0.0
    processing_s: float = 0.01
    batch_imbot: bool = True
    rest_available: bool = True
    on_premise: bool = False
    legacy: bool = False  # answer like servers before Revision 35: appId for the owner, CLIENT_ID_NOT_SPECIFIED
    ownership_error_on_get: bool = False  # Bot.get with a retired botToken: BOT_OWNERSHIP_ERROR, not the brief format
    license: str = "en_pro100"  # app.info LICENSE: the portal's plan with its region
    user_active: bool = True  # the webhook's user (and the user OAuth tokens act for); off: profile is empty
    # A portal-wide outage (simulator.portal_actions.set_outage): "502", "timeout" or "refused"; None: none.
    outage: str | None = None
    outage_sleep_s: float = 30.0  # how long a "timeout" outage holds each request
    own_port: int | None = None  # a listener of the portal's own (add_portal own_port), kept across outages
    listener: object = field(default=None, repr=False, compare=False)  # its server while it listens
    next_event_id: int = 1
    next_command_id: int = 1
    next_message_id: int = 1
    member_id: str = ""
    bots: dict[int, BotState] = field(default_factory=dict)
    apps: dict[str, AppState] = field(default_factory=dict)
    faults: list = field(default_factory=list)
    operating: dict[tuple[str, str], OperatingBudget] = field(default_factory=dict)
    stats: dict = field(default_factory=new_stats)
    # im.message.add: what was posted, oldest first, for tests to read ({"id", "dialog_id", "message", "system"}).
    messages: list[dict] = field(default_factory=list)
    # Every dialog message, users' and bots' answers alike, and the answers still to come (simulator.dialogs).
    dialogs: Dialogs = field(default_factory=Dialogs)
    webhook_scope: str = "imbot,im"  # the scope of the portal's webhook
    # Further incoming webhooks (a dedicated probe user's): (user_id, code) -> scope
    extra_webhooks: dict[tuple[int, str], str] = field(default_factory=dict)

    def find_bot(self, ref: int | str) -> BotState | None:
        """By id (an int, or a string of digits that is not some bot's code) or by code."""
        if isinstance(ref, int):
            return self.bots.get(ref)
        bot = self.bot_by_code(ref)
        if bot is None and ref.isdigit():
            bot = self.bots.get(int(ref))
        return bot

    def bot_by_code(self, code: str) -> BotState | None:
        return next((bot for bot in self.bots.values() if bot.code == code), None)

    def next_bot_id(self) -> int:
        return max(self.bots, default=100) + 1

    def budget(self, method: str, caller: str) -> OperatingBudget:
        return self.operating.setdefault((method, caller), OperatingBudget())

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "webhook": (
                {"user_id": self.webhook_user_id, "code": self.webhook_code} if self.webhook_code is not None else None
            ),
            "rate": self.bucket.rate,
            "burst": self.bucket.burst,
            "latency_ms": self.latency_ms,
            "operating_limit": self.operating_limit,
            "batch_imbot": self.batch_imbot,
            "rest_available": self.rest_available,
            "on_premise": self.on_premise,
            "legacy": self.legacy,
            "ownership_error_on_get": self.ownership_error_on_get,
            "license": self.license,
            "user_active": self.user_active,
            "outage": self.outage,
            "own_port": self.own_port,
            "bots": [bot.as_dict() for bot in self.bots.values()],
            "apps": [a.as_dict() for a in self.apps.values()],
            "faults": [f.as_dict() for f in self.faults],
            "messages": [dict(m) for m in self.messages],
            "webhook_scope": self.webhook_scope,
            "extra_webhooks": [{"user_id": u, "code": c, "scope": s} for (u, c), s in self.extra_webhooks.items()],
            "answers_written": self.dialogs.answers_written,
            "answers_failed": self.dialogs.answers_failed,
        }
