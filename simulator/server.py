"""A faithful Bitrix24 REST simulator over real HTTP, for BotWatch's tests, demo and benchmarks.

Portals live under a path prefix (`{base}/{portal}/rest/...`), the OAuth server at `{base}/oauth/token/`,
the control API at `{base}/_control/...`. Behaviour follows the Bitrix24 REST documentation (apidocs.bitrix24.com).
Pure stdlib (+ PyYAML for scenarios); safe to import without Django.

Choices where the notes leave room:
- An access token of an uninstalled app answers 401 `invalid_token`; a token never issued, or one
  replaced by a refresh, answers 401 `NO_AUTH_FOUND`.
- Error answers carry only `error` and `error_description` (no `time`), like the cloud's 429 (notes §3.2).
- Faults fire after the leaky bucket (a refused request fires nothing) and before authentication.
"""

import random
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from simulator.actions import BotHealthActions
from simulator.broker import TokenBrokers
from simulator.control import SimulatorControl
from simulator.errors import SimulatorError, build_fault
from simulator.http import Request, SimulatorServer, serve_in_thread, shut
from simulator.pipeline import RestPipeline
from simulator.portal_actions import PortalActions
from simulator.scenario import apply_scenario, validate_scenario
from simulator.state import (
    ACCESS_TOKEN_LIFETIME_S,
    AppState,
    BotState,
    LeakyBucket,
    PortalState,
    TokenPair,
    export_stats,
    load_token_file,
    new_stats,
    save_token_file,
)

__all__ = ["Simulator", "SimulatorControl", "SimulatorError"]


class Simulator(RestPipeline, BotHealthActions, PortalActions, TokenBrokers):
    def __init__(
        self,
        rate: float = 2.0,
        burst: int = 50,
        operating_limit: float = 480.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        token_file: str | Path | None = None,
    ):
        """token_file: OAuth token pairs kept across restarts, so that a client's stored tokens stay valid."""
        self.rate = rate
        self.burst = burst
        self.operating_limit = operating_limit
        self.clock = clock
        self.base_url = ""
        self._fixed_public_url = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._portals: dict[str, PortalState] = {}
        self._renamed: dict[str, str] = {}  # old name -> current name
        self._tokens: dict[str, TokenPair] = {}  # access token -> pair
        self._refresh: dict[str, TokenPair] = {}  # refresh token -> pair
        self._brokers: dict[tuple[str, str], str] = {}  # (portal, client_id) -> broker secret
        self._token_file = Path(token_file) if token_file else None
        self._saved_tokens = load_token_file(self._token_file)
        self._server: SimulatorServer | None = None
        self._host = "127.0.0.1"  # where the listeners bind; portals with a port of their own too

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None) -> str:
        """Serves in a daemon thread; returns the base URL (`public_url` when clients reach it by another name)."""
        self._server = serve_in_thread((host, port), self._dispatch)
        self._host = host
        shown_host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison, not a bind
        self.base_url = (public_url or f"http://{shown_host}:{self._server.server_port}").rstrip("/")
        self._fixed_public_url = public_url is not None
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        shut(self._server)
        self._server = None
        with self._lock:
            for state in self._portals.values():
                self._close_own_listener(state)

    def public_base(self, request: Request) -> str:
        """The address this client used (its Host header), so redirects and endpoints work behind any name."""
        host = request.headers.get("host")
        return f"http://{host}" if host and not self._fixed_public_url else self.base_url

    def portal_url(self, name: str) -> str:
        """`{base}/{name}`, or on the portal's own port when it has one (add_portal own_port)."""
        state = self._portals.get(name)
        if state is not None and state.own_port:
            shown_host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104 - a comparison
            return f"http://{shown_host}:{state.own_port}/{name}"
        return f"{self.base_url}/{name}"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth/token/"

    # ----- set-up ----------------------------------------------------------------------------

    def add_portal(
        self,
        name: str,
        webhook_user_id: int | None = 1,
        webhook_code: str | None = "k3y",
        rate: float | None = None,
        burst: int | None = None,
        latency_ms: float = 0,
        operating_limit: float | None = None,
        processing_s: float = 0.01,
        batch_imbot: bool = True,
        rest_available: bool = True,
        on_premise: bool = False,
        legacy: bool = False,
        ownership_error_on_get: bool = False,
        license: str = "en_pro100",
        own_port: bool = False,
    ) -> dict:
        """A portal under `{base}/{name}`; webhook_code=None: no incoming webhook, OAuth only.

        rest_available=False: a plan without REST (403 ACCESS_DENIED); on_premise=True: no limits, no operating;
        legacy=True: a server before Revision 35 (owner sees appId; no botToken -> CLIENT_ID_NOT_SPECIFIED);
        ownership_error_on_get=True: Bot.get with a rotated (retired) botToken answers BOT_OWNERSHIP_ERROR;
        license: the plan app.info names (LICENSE); own_port=True: the portal also listens on a port of its
        own (portal_url names it), so that an outage can refuse its connections (set_outage "refused").
        """
        if not name or "/" in name or name.startswith("_") or name == "oauth":
            raise SimulatorError(f"portal name {name!r} must be a non-empty path segment, not 'oauth' or '_…'")
        with self._lock:
            if name in self._portals:
                raise SimulatorError(f"portal {name!r} already exists")
            portal = PortalState(
                name=name,
                webhook_user_id=int(webhook_user_id) if webhook_user_id is not None else None,
                webhook_code=webhook_code,
                bucket=LeakyBucket(float(rate or self.rate), int(burst or self.burst)),
                operating_limit=float(operating_limit if operating_limit is not None else self.operating_limit),
                latency_ms=float(latency_ms),
                processing_s=float(processing_s),
                batch_imbot=batch_imbot,
                rest_available=rest_available,
                on_premise=on_premise,
                legacy=legacy,
                ownership_error_on_get=ownership_error_on_get,
                license=str(license),
                member_id=secrets.token_hex(16),
            )
            self._portals[name] = portal
            self._renamed.pop(name, None)
            if own_port:
                self._open_own_listener(portal)
            return portal.as_dict()

    def add_oauth_app(self, portal: str, client_id: str, client_secret: str, scope: str = "imbot") -> dict:
        """Installs a local app on the portal and issues its first token pair."""
        with self._lock:
            state = self._portal(portal)
            if client_id in state.apps and state.apps[client_id].installed:
                raise SimulatorError(f"app {client_id!r} is already installed on portal {portal!r}")
            for old in [t for t in self._tokens.values() if (t.portal, t.client_id) == (portal, client_id)]:
                del self._tokens[old.access_token], self._refresh[old.refresh_token]  # a reinstall starts afresh
            state.apps[client_id] = AppState(client_id, client_secret, scope, number=len(state.apps) + 1)
            pair = self._issue_tokens(state, client_id, self._saved_tokens.pop(f"{portal}|{client_id}", None))
            return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}

    def add_bot(
        self,
        portal: str,
        code: str,
        bot_id: int | None = None,
        bot_token: str | None = None,
        app_client_id: str | None = None,
        counters: dict[str, int] | None = None,
        growth: bool = True,
        type: str = "bot",
        language: str = "en",
        name: str | None = None,
        event_mode: str = "fetch",
    ) -> dict:
        """A registered bot, owned by `"custom" + bot_token` (webhook) or by the app `app_client_id` (OAuth)."""
        if (bot_token is None) == (app_client_id is None):
            raise SimulatorError(f"bot {code!r}: give exactly one of bot_token (webhook) or app_client_id (OAuth)")
        with self._lock:
            state = self._portal(portal)
            if app_client_id is not None and not self._installed(state, app_client_id):
                raise SimulatorError(f"bot {code!r}: app {app_client_id!r} is not installed on portal {portal!r}")
            if state.bot_by_code(code) is not None:
                raise SimulatorError(f"bot code {code!r} is already taken on portal {portal!r}")
            bot_id = int(bot_id) if bot_id is not None else state.next_bot_id()
            if bot_id in state.bots:
                raise SimulatorError(f"bot id {bot_id} is already taken on portal {portal!r}")
            bot = BotState(
                id=bot_id,
                code=code,
                client_id=app_client_id if app_client_id is not None else "custom" + str(bot_token),
                bot_token=bot_token,
                app_client_id=app_client_id,
                type=type,
                language=language,
                name=name or code.replace("_", " ").title(),
                event_mode=event_mode,
                growth=growth,
            )
            bot.counters.update({k: int(v) for k, v in (counters or {}).items() if k in bot.counters})
            state.bots[bot_id] = bot
            return bot.as_dict()

    def remove_bot(self, portal: str, bot: int | str) -> None:
        with self._lock:
            state = self._portal(portal)
            del state.bots[self._bot(state, bot).id]

    def rotate_bot_token(self, portal: str, bot: int | str, new_token: str) -> None:
        """Bot.update fields.botToken: the old token is retired; Bot.get gives it the brief format (notes §7)."""
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            if found.app_client_id is not None:
                raise SimulatorError(f"bot {found.code!r} is owned by app {found.app_client_id!r}, it has no token")
            found.retired_tokens.add(str(found.bot_token))
            found.retired_tokens.discard(new_token)
            found.bot_token = new_token
            found.client_id = "custom" + new_token

    def uninstall_app(self, portal: str, client_id: str) -> None:
        """OnRestAppDelete: the app's bots go, its tokens stop working (notes §7)."""
        with self._lock:
            state = self._portal(portal)
            if not self._installed(state, client_id):
                raise SimulatorError(f"app {client_id!r} is not installed on portal {portal!r}")
            state.apps[client_id].installed = False
            state.bots = {i: b for i, b in state.bots.items() if b.app_client_id != client_id}
            self._save_tokens()

    def expire_access_tokens(self, portal: str) -> None:
        with self._lock:
            self._portal(portal)
            for pair in self._tokens.values():
                if pair.portal == portal:
                    pair.expired = True

    def rename_portal(self, old: str, new: str) -> None:
        """The old prefix answers 302 to the new one, like a changed portal address (notes §2.4)."""
        with self._lock:
            state = self._portal(old)
            if new in self._portals or not new or "/" in new or new.startswith("_") or new == "oauth":
                raise SimulatorError(f"cannot rename portal {old!r} to {new!r}: name taken or not a path segment")
            state.name = new
            self._portals[new] = self._portals.pop(old)
            self._renamed = {k: (new if v == old else v) for k, v in self._renamed.items() if k != new}
            self._renamed[old] = new
            for pair in self._tokens.values():
                if pair.portal == old:
                    pair.portal = new
            self._save_tokens()

    def inject_fault(
        self, portal: str, kind: str, bot: int | str | None = None, times: int | None = None,
        probability: float | None = None, **params,
    ) -> dict:  # fmt: skip
        """`times=N`: the next N matching calls; `probability=p`: each matching call with chance p.

        Extra params: method (limit to one REST method; "oauth" aims at token refreshes of this portal),
        sleep_s (timeout; how long trickle/trickle_headers last), interval_s (trickle: seconds per byte),
        location (redirect), code / http_status / description (custom, or to override a kind's answer).
        """
        fault = build_fault(kind, bot=bot, times=times, probability=probability, **_known_fault_params(params))
        with self._lock:
            self._portal(portal).faults.append(fault)
        return fault.as_dict()

    def clear_faults(self, portal: str) -> None:
        with self._lock:
            self._portal(portal).faults.clear()

    def set_latency(self, portal: str, ms: float) -> None:
        with self._lock:
            self._portal(portal).latency_ms = float(ms)

    def reset_limits(self, portal: str) -> None:
        """Empties the leaky bucket and the operating budgets (tests that need a fresh portal)."""
        with self._lock:
            state = self._portal(portal)
            state.bucket.level = 0.0
            state.operating.clear()

    def stats(self, portal: str | None = None) -> dict:
        with self._lock:
            if portal is None:
                return {name: export_stats(p.stats) for name, p in self._portals.items()}
            return export_stats(self._portal(portal).stats)

    def messages(self, portal: str) -> list[dict]:
        """What im.message.add posted on the portal, oldest first."""
        with self._lock:
            return [dict(m) for m in self._portal(portal).messages]

    def reset_stats(self, portal: str | None = None) -> None:
        with self._lock:
            for state in self._portals.values() if portal is None else [self._portal(portal)]:
                state.stats = new_stats()

    def state(self) -> dict:
        """Portals, bots, apps and live tokens, for tests that look inside."""
        with self._lock:
            return {
                "base_url": self.base_url,
                "portals": {name: p.as_dict() for name, p in self._portals.items()},
                "renamed": dict(self._renamed),
                "tokens": [
                    {"portal": t.portal, "client_id": t.client_id, "access_token": t.access_token,
                     "refresh_token": t.refresh_token, "expires": t.expires, "expired": t.expired}
                    for t in self._tokens.values()
                ],
            }  # fmt: skip

    def load_scenario(self, scenario: dict) -> dict:
        """Validates and applies a scenario (see simulator.scenario); returns the BotWatch portal file for it."""
        return apply_scenario(self, validate_scenario(scenario))

    # ----- helpers ---------------------------------------------------------------------------

    def _portal(self, name: str) -> PortalState:
        state = self._portals.get(name)
        if state is None:
            raise SimulatorError(f"unknown portal {name!r}")
        return state

    @staticmethod
    def _bot(state: PortalState, ref: int | str) -> BotState:
        bot = state.find_bot(ref)
        if bot is None:
            raise SimulatorError(f"unknown bot {ref!r} on portal {state.name!r}")
        return bot

    @staticmethod
    def _installed(state: PortalState, client_id: str) -> bool:
        app = state.apps.get(client_id)
        return app is not None and app.installed

    def _issue_tokens(self, state: PortalState, client_id: str, saved: dict | None = None) -> TokenPair:
        """A new pair, or the one an earlier run saved for this portal and app."""
        saved = saved or {}
        pair = TokenPair(
            access_token=str(saved.get("access_token") or secrets.token_hex(24)),
            refresh_token=str(saved.get("refresh_token") or secrets.token_hex(24)),
            portal=state.name,
            client_id=client_id,
            expires=float(saved.get("expires") or self.clock() + ACCESS_TOKEN_LIFETIME_S),
        )
        self._tokens[pair.access_token] = pair
        self._refresh[pair.refresh_token] = pair
        self._save_tokens()
        return pair

    def _save_tokens(self) -> None:
        if self._token_file is None:
            return
        pairs = dict(self._saved_tokens)  # apps of a scenario not loaded (yet) keep theirs
        for t in self._tokens.values():
            if self._installed(self._portals[t.portal], t.client_id):
                pairs[f"{t.portal}|{t.client_id}"] = {
                    "access_token": t.access_token,
                    "refresh_token": t.refresh_token,
                    "expires": t.expires,
                }
        save_token_file(self._token_file, pairs)


_FAULT_EXTRA = ("method", "sleep_s", "interval_s", "location", "code", "http_status", "description")


def _known_fault_params(params: dict) -> dict:
    unknown = sorted(set(params) - set(_FAULT_EXTRA))
    if unknown:
        raise SimulatorError(f"unknown fault parameter(s): {', '.join(unknown)}")
    return params
