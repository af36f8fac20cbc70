"""A faithful Bitrix24 REST simulator over real HTTP, for BotWatch's tests, demo and benchmarks.

Portals live under a path prefix (`{base}/{portal}/rest/...`), the OAuth server at `{base}/oauth/token/`,
the control API at `{base}/_control/...`. Behaviour follows reference/bitrix24-api-notes.md §10.
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
from urllib.parse import urlsplit

from checks.bitrix24 import simulator_methods as methods
from checks.bitrix24.simulator_control import SimulatorControl, handle_control
from checks.bitrix24.simulator_errors import (
    ERRORS,
    OAUTH_ERRORS,
    TRANSPORT_FAULTS,
    Fault,
    Reply,
    RestError,
    SimulatorError,
    build_fault,
    fault_reply,
    html_reply,
    json_reply,
)
from checks.bitrix24.simulator_http import Request, SimulatorServer, parse_body, parse_php_query
from checks.bitrix24.simulator_state import (
    ACCESS_TOKEN_LIFETIME_S,
    AppState,
    BotState,
    LeakyBucket,
    PortalState,
    TokenPair,
    export_stats,
    new_stats,
)

__all__ = ["Simulator", "SimulatorControl", "SimulatorError"]


class Simulator:
    def __init__(
        self,
        rate: float = 2.0,
        burst: int = 50,
        operating_limit: float = 480.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.rate = rate
        self.burst = burst
        self.operating_limit = operating_limit
        self.clock = clock
        self.base_url = ""
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._portals: dict[str, PortalState] = {}
        self._renamed: dict[str, str] = {}  # old name -> current name
        self._tokens: dict[str, TokenPair] = {}  # access token -> pair
        self._refresh: dict[str, TokenPair] = {}  # refresh token -> pair
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None) -> str:
        """Serves in a daemon thread; returns the base URL (`public_url` when clients reach it by another name)."""
        self._server = SimulatorServer((host, port), self._dispatch)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        shown_host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison, not a bind
        self.base_url = (public_url or f"http://{shown_host}:{self._server.server_port}").rstrip("/")
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None

    def portal_url(self, name: str) -> str:
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
    ) -> dict:
        """A portal under `{base}/{name}`; webhook_code=None: no incoming webhook, OAuth only."""
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
                member_id=secrets.token_hex(16),
            )
            self._portals[name] = portal
            self._renamed.pop(name, None)
            return portal.as_dict()

    def add_oauth_app(self, portal: str, client_id: str, client_secret: str, scope: str = "imbot") -> dict:
        """Installs a local app on the portal and issues its first token pair."""
        with self._lock:
            state = self._portal(portal)
            if client_id in state.apps and state.apps[client_id].installed:
                raise SimulatorError(f"app {client_id!r} is already installed on portal {portal!r}")
            state.apps[client_id] = AppState(client_id, client_secret, scope)
            pair = self._issue_tokens(state, client_id)
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
        """Bot.update fields.botToken: the old token now gets the brief format (notes §7)."""
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            if found.app_client_id is not None:
                raise SimulatorError(f"bot {found.code!r} is owned by app {found.app_client_id!r}, it has no token")
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

    def inject_fault(
        self, portal: str, kind: str, bot: int | str | None = None, times: int | None = None,
        probability: float | None = None, **params,
    ) -> dict:  # fmt: skip
        """`times=N`: the next N matching calls; `probability=p`: each matching call with chance p."""
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
        """Validates and applies a scenario (see simulator_scenario); returns the BotWatch portal file for it."""
        from checks.bitrix24.simulator_scenario import apply_scenario, validate_scenario

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

    def _issue_tokens(self, state: PortalState, client_id: str) -> TokenPair:
        pair = TokenPair(
            access_token=secrets.token_hex(24),
            refresh_token=secrets.token_hex(24),
            portal=state.name,
            client_id=client_id,
            expires=self.clock() + ACCESS_TOKEN_LIFETIME_S,
        )
        self._tokens[pair.access_token] = pair
        self._refresh[pair.refresh_token] = pair
        return pair

    # ----- HTTP ------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Reply:
        path = request.path
        if path.startswith("/_control/"):
            return handle_control(self, request)
        if path.rstrip("/") == "/oauth/token":
            return self._oauth_token(request)
        name, _, rest = path.lstrip("/").partition("/")
        with self._lock:
            if name in self._renamed:
                return self._redirect(name, rest, request)
            state = self._portals.get(name)
        if state is None or not rest.startswith("rest/"):
            return html_reply(404, "Not Found")
        reply = self._rest(state, request, rest[len("rest/") :])
        reply.delay_s += state.latency_ms / 1000.0
        with self._lock:
            state.stats["by_http_status"][reply.status or "reset"] += 1
        return reply

    def _redirect(self, old: str, rest: str, request: Request) -> Reply:
        new = self._renamed[old]
        state = self._portals[new]
        state.stats["requests"] += 1
        state.stats["by_http_status"][302] += 1
        location = f"{self.base_url}/{new}/{rest}" + (f"?{request.query_string}" if request.query_string else "")
        return Reply(status=302, body=b"", content_type="text/html", headers={"Location": location})

    def _rest(self, state: PortalState, request: Request, route: str) -> Reply:
        parts = route.split("/")
        method = methods.normalize_method(parts[-1])
        params = parse_body(request)
        with self._lock:
            now = self.clock()
            state.stats["requests"] += 1
            state.stats["methods"][method] += 1
            if not state.bucket.admit(now):
                state.stats["rate_limited"] += 1
                return RestError("QUERY_LIMIT_EXCEEDED").reply()
            try:
                return self._serve(state, parts, method, params, now)
            except RestError as exc:
                return exc.reply()

    def _serve(self, state: PortalState, parts: list[str], method: str, params: dict, now: float) -> Reply:
        if not state.rest_available:
            raise RestError("ACCESS_DENIED")
        is_batch = method == "batch"
        bots = methods.bots_named(state, params) if not is_batch else self._batch_bots(state, params)
        fault = self._take_fault(state, method, bots, whole_request=True, is_batch=is_batch)
        delay = 0.0
        if fault is not None:
            sample = {"result": {}, "time": self._time(state, now, None)}
            replaced = fault_reply(fault, sample)
            if replaced is not None and fault.kind != "truncated_json":
                return replaced
            delay = fault.sleep_s if fault.kind == "timeout" else 0.0
        caller = self._authenticate(state, parts, params, now)
        if is_batch:
            state.stats["batch_requests"] += 1
            payload = self._batch(state, caller, params, now)
        else:
            result, time_obj = self._call(state, caller, method, params, now)
            payload = {"result": result, "time": time_obj}
        if fault is not None and fault.kind == "truncated_json":
            return fault_reply(fault, payload)
        reply = json_reply(200, payload)
        reply.delay_s = delay
        return reply

    def _authenticate(self, state: PortalState, parts: list[str], params: dict, now: float) -> methods.Caller:
        if len(parts) == 3:
            user_id, code = parts[0], parts[1]
            if state.webhook_code is None or code != state.webhook_code or user_id != str(state.webhook_user_id):
                raise RestError("NO_AUTH_FOUND")
            return methods.Caller(kind="webhook", key=f"webhook:{user_id}:{code}")
        if len(parts) != 1:
            raise RestError("ERROR_METHOD_NOT_FOUND")
        pair = self._tokens.get(str(params.get("auth") or ""))
        if pair is None or pair.portal != state.name:
            raise RestError("NO_AUTH_FOUND")
        app = state.apps.get(pair.client_id)
        if app is None or not app.installed:
            raise RestError("invalid_token")
        if pair.expired or now >= pair.expires:
            raise RestError("expired_token")
        return methods.Caller(kind="oauth", key=f"app:{app.client_id}", client_id=app.client_id)

    def _call(self, state: PortalState, caller: methods.Caller, method: str, params: dict, now: float):
        """One method call against the operating budget of method x caller (notes §3.2)."""
        handler = methods.METHODS.get(method)
        if handler is None:
            raise RestError("ERROR_METHOD_NOT_FOUND")
        if method.startswith("imbot.") and caller.kind == "oauth" and "imbot" not in state.apps[caller.client_id].scope:
            raise RestError("insufficient_scope")
        budget = state.budget(method, caller.key)
        if budget.used(now) > state.operating_limit:
            state.stats["operating_limited"] += 1
            raise RestError("OPERATION_TIME_LIMIT")
        try:
            result = handler(state, caller, params, self._rng)
        finally:
            budget.add(now, state.processing_s)
        return result, self._time(state, now, budget)

    def _time(self, state: PortalState, now: float, budget) -> dict:
        operating = budget.used(now) if budget is not None else 0.0
        reset_at = budget.reset_at(now) if budget is not None else int(now)
        return methods.time_object(now, state.processing_s, state.latency_ms / 1000.0, operating, reset_at)

    def _batch(self, state: PortalState, caller: methods.Caller, params: dict, now: float) -> dict:
        """batch: one request for the leaky bucket, each command for operating (notes §4)."""
        commands, from_list = methods.batch_commands(params)
        if not state.batch_imbot and any(m.startswith("imbot.") for _, m, _ in commands):
            raise RestError("ERROR_BATCH_METHOD_NOT_ALLOWED")
        halt = methods.is_true(params.get("halt", False))
        results, errors, times = {}, {}, {}
        for key, method, query in commands:
            state.stats["methods"][method] += 1
            sub_params = _query_params(query)
            try:
                fault = self._take_fault(state, method, methods.bots_named(state, sub_params), whole_request=False)
                if fault is not None:
                    raise RestError(fault.kind, fault.description, fault.http_status)
                results[key], times[key] = self._call(state, caller, method, sub_params, now)
            except RestError as exc:
                errors[key] = exc.body()
                if halt:
                    break
        outer = self._time(state, now, None)
        outer["operating"] = max((t.get("operating", 0.0) for t in times.values()), default=0.0)
        return {
            "result": {
                "result": methods.php_collection(results, from_list),
                "result_error": methods.php_collection(errors, from_list),
                "result_total": [],
                "result_next": [],
                "result_time": methods.php_collection(times, from_list),
            },
            "time": outer,
        }

    def _batch_bots(self, state: PortalState, params: dict) -> set[str]:
        try:
            commands, _ = methods.batch_commands(params)
        except RestError:
            return set()
        return set().union(*(methods.bots_named(state, _query_params(q)) for _, _, q in commands))

    def _take_fault(
        self, state: PortalState, method: str, bots: set[str], whole_request: bool, is_batch: bool = False
    ) -> Fault | None:
        """The first matching fault that fires; a batch as a whole takes only portal-wide or transport faults."""
        for fault in list(state.faults):
            if not self._fault_applies(fault, method, bots, whole_request, is_batch):
                continue
            if fault.probability is not None and self._rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.remove(fault)
            state.stats["faults_fired"] += 1
            return fault
        return None

    @staticmethod
    def _fault_applies(fault: Fault, method: str, bots: set[str], whole_request: bool, is_batch: bool) -> bool:
        if not whole_request:  # one command inside a batch: only error-code faults can answer for it
            return fault.kind in ERRORS and fault.matches(method, bots)
        if not is_batch:
            return fault.matches(method, bots)
        if fault.bot is None:
            return fault.method in (None, "batch")
        return fault.kind in TRANSPORT_FAULTS and fault.matches(fault.method or method, bots)

    def _oauth_token(self, request: Request) -> Reply:
        """oauth.bitrix.info: a refresh rotates both tokens and retires the old pair (notes §2.3)."""
        params = parse_body(request)
        with self._lock:
            if params.get("grant_type") != "refresh_token":
                return _oauth_error("invalid_request")
            client_id, secret = str(params.get("client_id", "")), str(params.get("client_secret", ""))
            pair = self._refresh.get(str(params.get("refresh_token", "")))
            if pair is None:
                known = any(
                    a.client_id == client_id and a.client_secret == secret and a.installed
                    for p in self._portals.values()
                    for a in p.apps.values()
                )
                return _oauth_error("invalid_grant" if known else "invalid_client")
            state = self._portals[pair.portal]
            app = state.apps.get(pair.client_id)
            if pair.client_id != client_id or app is None or app.client_secret != secret or not app.installed:
                return _oauth_error("invalid_client")
            del self._tokens[pair.access_token], self._refresh[pair.refresh_token]
            new = self._issue_tokens(state, client_id)
            state.stats["oauth_refreshes"] += 1
            return json_reply(200, self._token_answer(state, new))

    def _token_answer(self, state: PortalState, pair: TokenPair) -> dict:
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires": int(pair.expires),
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "client_endpoint": f"{self.portal_url(state.name)}/rest/",
            "server_endpoint": f"{self.base_url}/rest/",
            "domain": urlsplit(self.base_url).netloc,
            "member_id": state.member_id,
            "scope": state.apps[pair.client_id].scope,
            "status": "L",
            "user_id": state.webhook_user_id or 1,
        }


def _oauth_error(code: str) -> Reply:
    status, text = OAUTH_ERRORS[code]
    return json_reply(status, {"error": code, "error_description": text})


def _query_params(query: str) -> dict:
    return parse_php_query(query)


_FAULT_EXTRA = ("method", "sleep_s", "code", "http_status", "description")


def _known_fault_params(params: dict) -> dict:
    unknown = sorted(set(params) - set(_FAULT_EXTRA))
    if unknown:
        raise SimulatorError(f"unknown fault parameter(s): {', '.join(unknown)}")
    return params
