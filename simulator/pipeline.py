"""How the simulator answers one REST or OAuth request: limits, faults, authentication, methods, batch.

A mixin of Simulator; everything here runs under the simulator's lock and never sleeps
(latency and the `timeout` fault are slept by the HTTP handler, outside the lock).
"""

import random
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from simulator import methods
from simulator.control import handle_control
from simulator.errors import (
    ERRORS,
    OAUTH_ERRORS,
    TRANSPORT_FAULTS,
    Fault,
    Reply,
    RestError,
    fault_reply,
    html_reply,
    json_reply,
    shape_reply,
)
from simulator.http import Request, parse_body, parse_php_query
from simulator.portal_actions import outage_reply
from simulator.state import ACCESS_TOKEN_LIFETIME_S, PortalState, TokenPair

# inject_fault(..., method="oauth") aims a fault at refreshes of the portal's tokens on the OAuth server.
OAUTH_FAULT_METHOD = "oauth"
BROKER_FAULT_METHOD = "broker"  # faults for the app backend's token broker (simulator.broker)
# Endpoints that are not the portal's REST API: they take only faults aimed at them by name.
OWN_FAULT_METHODS = frozenset({OAUTH_FAULT_METHOD, BROKER_FAULT_METHOD})


class RestPipeline:
    """Needs from Simulator: _lock, _rng, clock, _portals, _renamed, _tokens, _refresh, _issue_tokens, public_base."""

    _lock: threading.RLock
    _rng: random.Random
    clock: Callable[[], float]
    _portals: dict[str, PortalState]
    _renamed: dict[str, str]
    _tokens: dict[str, TokenPair]
    _refresh: dict[str, TokenPair]

    def _dispatch(self, request: Request) -> Reply:
        path = request.path
        if path.startswith("/_control/"):
            return handle_control(self, request)
        if path.rstrip("/") == "/oauth/token":
            return self._oauth_token(request)
        if path.startswith("/_broker/"):
            return self.broker_reply(request)
        name, _, rest = path.lstrip("/").partition("/")
        with self._lock:
            if name in self._renamed:
                return self._redirect(name, rest, request)
            state = self._portals.get(name)
        if state is None or not rest.startswith("rest/"):
            return html_reply(404, "Not Found")
        if state.outage is not None:
            with self._lock:
                state.stats["requests"] += 1
                state.stats["outage_refused"] += 1
            reply = outage_reply(state)
        else:
            reply = self._rest(state, request, rest[len("rest/") :])
        reply.delay_s += state.latency_ms / 1000.0
        self._count_in_flight(state, reply)
        with self._lock:
            state.stats["by_http_status"][str(reply.status or "reset")] += 1
        return reply

    def _redirect(self, old: str, rest: str, request: Request) -> Reply:
        new = self._renamed[old]
        state = self._portals[new]
        state.stats["requests"] += 1
        state.stats["by_http_status"]["302"] += 1
        query = f"?{request.query_string}" if request.query_string else ""
        location = f"{self.public_base(request)}/{new}/{rest}{query}"
        return Reply(status=302, body=b"", content_type="text/html", headers={"Location": location})

    def _rest(self, state: PortalState, request: Request, route: str) -> Reply:
        parts = route.strip("/").split("/")
        method = methods.normalize_method(parts[-1])
        params = parse_body(request)
        with self._lock:
            now = self.clock()
            state.stats["requests"] += 1
            state.stats["methods"][method] += 1
            self._note_event_gets(state, method, params)
            if request.headers.get("cookie"):
                state.stats["requests_with_cookie"] += 1
            if not state.on_premise and not state.bucket.admit(now):
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
        if fault is not None:
            sample = {"result": {}, "time": self._time(state, now, None)}
            replaced = fault_reply(fault, sample)
            if replaced is not None and fault.kind != "truncated_json":
                return replaced
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
        return shape_reply(fault, reply) if fault is not None else reply

    def _count_in_flight(self, state: PortalState, reply: Reply) -> None:
        """in_flight: requests of the portal being answered right now (slept, trickled); max_in_flight: the peak."""
        with self._lock:
            state.stats["in_flight"] += 1
            state.stats["max_in_flight"] = max(state.stats["max_in_flight"], state.stats["in_flight"])

        def sent() -> None:
            with self._lock:
                state.stats["in_flight"] -= 1

        reply.on_sent = sent

    def _authenticate(self, state: PortalState, parts: list[str], params: dict, now: float) -> methods.Caller:
        if len(parts) == 3:
            user_id, code = parts[0], parts[1]
            main = (
                state.webhook_code is not None and code == state.webhook_code and user_id == str(state.webhook_user_id)
            )
            scope = state.webhook_scope if main else state.extra_webhooks.get((methods.as_int(user_id), code))
            if scope is None:
                raise RestError("NO_AUTH_FOUND")
            return methods.Caller(
                kind="webhook", key=f"webhook:{user_id}:{code}", user_id=methods.as_int(user_id), scope=scope
            )
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
        user_id = state.webhook_user_id or 1
        return methods.Caller(
            kind="oauth", key=f"app:{app.client_id}", client_id=app.client_id, user_id=user_id, scope=app.scope
        )

    def _call(self, state: PortalState, caller: methods.Caller, method: str, params: dict, now: float):
        """One method call against the operating budget of method x caller (notes §3.2)."""
        handler = methods.METHODS.get(method)
        if handler is None:
            raise RestError("ERROR_METHOD_NOT_FOUND")
        if method.startswith("imbot.") and caller.kind == "oauth" and "imbot" not in state.apps[caller.client_id].scope:
            raise RestError("insufficient_scope")
        budget = state.budget(method, caller.key)
        if not state.on_premise and budget.used(now) > state.operating_limit:
            state.stats["operating_limited"] += 1
            raise RestError("OPERATION_TIME_LIMIT")
        try:
            result = handler(state, caller, params, self._rng, now)
        finally:
            budget.add(now, state.processing_s)
        return result, self._time(state, now, budget)

    def _time(self, state: PortalState, now: float, budget) -> dict:
        """On-premise installs apply neither limit and send no operating fields (notes §3, §6)."""
        operating = budget.used(now) if budget is not None else 0.0
        reset_at = budget.reset_at(now) if budget is not None else int(now)
        if state.on_premise:
            operating = reset_at = None
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
        if not state.on_premise:
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

    @staticmethod
    def _note_event_gets(state: PortalState, method: str, params: dict) -> None:
        """Logs each Event.get as it arrives, alone or inside a batch, before any limit or check refuses it."""
        if method == methods.EVENT_GET:
            methods.note_event_get(state, params)
        elif method == "batch":
            try:
                commands, _ = methods.batch_commands(params)
            except RestError:
                return
            for _, sub_method, query in commands:
                if sub_method == methods.EVENT_GET:
                    methods.note_event_get(state, _query_params(query))

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
        if fault.method in OWN_FAULT_METHODS or method in OWN_FAULT_METHODS:
            return fault.method == method  # the OAuth server and brokers only take faults meant for them
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
            fault = self._take_fault(state, OAUTH_FAULT_METHOD, set(), whole_request=True)
            replaced = fault_reply(fault, {}) if fault is not None else None
            if replaced is not None:
                return replaced
            app = state.apps.get(pair.client_id)
            if pair.client_id != client_id or app is None or app.client_secret != secret or not app.installed:
                return _oauth_error("invalid_client")
            del self._tokens[pair.access_token], self._refresh[pair.refresh_token]
            new = self._issue_tokens(state, client_id)
            state.stats["oauth_refreshes"] += 1
            reply = json_reply(200, self._token_answer(state, new, self.public_base(request)))
            return shape_reply(fault, reply) if fault is not None else reply

    def _token_answer(self, state: PortalState, pair: TokenPair, base: str) -> dict:
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires": int(pair.expires),
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "client_endpoint": f"{base}/{state.name}/rest/",
            "server_endpoint": f"{base}/rest/",
            "domain": urlsplit(base).netloc,
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
