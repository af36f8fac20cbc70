"""The simulator's control API over HTTP, and SimulatorControl, its client for other processes.

`POST {base}/_control/{action}` with the keyword arguments of the Python method as a JSON object;
`GET {base}/_control/stats?portal=NAME` and `GET {base}/_control/state`. Answers `{"result": ...}`,
or 400 `{"error": "message naming the problem"}`.
"""

import inspect
import json
import types
import typing
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from simulator.errors import Reply, SimulatorError, json_reply
from simulator.http import Request

POST_ACTIONS = frozenset(
    {
        "add_portal",
        "add_oauth_app",
        "add_broker",
        "add_bot",
        "remove_bot",
        "rotate_bot_token",
        "uninstall_app",
        "expire_access_tokens",
        "rename_portal",
        "inject_fault",
        "clear_faults",
        "set_latency",
        "reset_stats",
        "reset_limits",
        "load_scenario",
        "add_events",
        "set_oldest_event_age",
        "clear_events",
        "set_bot_user_active",
        "set_commands",
        "update_bot",
        "reregister_bot",
        "set_webhook_user_active",
        "set_license",
        "set_app_info",
        "set_outage",
        "remove_bot_code",
        "set_answer",
        "set_growth",
        "add_webhook",
        "set_webhook_scope",
    }
)
GET_ACTIONS = frozenset({"stats", "state", "dialog"})


def handle_control(sim: object, request: Request) -> Reply:
    """Calls the action the path names on `sim` (a simulator.server.Simulator) with the body as keywords."""
    action = request.path[len("/_control/") :].strip("/")
    if action in GET_ACTIONS:
        kwargs: Any = {k: v for k, v in request.query.items() if v != ""}
    elif action in POST_ACTIONS and request.verb == "POST":
        try:
            kwargs = json.loads(request.body or b"{}")
        except ValueError as exc:
            return json_reply(400, {"error": f"body is not JSON: {exc}"})
        if not isinstance(kwargs, dict):
            return json_reply(400, {"error": "body must be a JSON object of keyword arguments"})
    else:
        known = ", ".join(sorted(POST_ACTIONS | GET_ACTIONS))
        return json_reply(404, {"error": f"unknown control action {action!r} (POST or GET?); known: {known}"})
    return _call(sim, action, kwargs)


def _call(sim: object, action: str, kwargs: dict) -> Reply:
    method = getattr(sim, action)
    signature = inspect.signature(method)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = sorted(set(kwargs) - set(signature.parameters))
    if unknown and not takes_any:
        return json_reply(400, {"error": f"{action}: unknown argument(s): {', '.join(unknown)}"})
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        return json_reply(400, {"error": f"{action}: {exc}"})
    wrong = [
        name
        for name, value in kwargs.items()
        if name in signature.parameters and not _fits(value, signature.parameters[name].annotation)
    ]
    if wrong:
        return json_reply(400, {"error": f"{action}: wrong type for {', '.join(wrong)}"})
    try:
        return json_reply(200, {"result": method(**kwargs)})
    except (SimulatorError, TypeError, ValueError) as exc:
        return json_reply(400, {"error": f"{action}: {exc}"})


def _fits(value: Any, annotation: Any) -> bool:
    """Whether a JSON value suits a simple annotation (str, int, float, bool, dict, their unions with None)."""
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if any(a is inspect.Parameter.empty or a is Any or typing.get_origin(a) is not None for a in allowed):
        return True
    if float in allowed:
        allowed = (*allowed, int)
    if isinstance(value, bool) and bool not in allowed:
        return False
    return (value is None and type(None) in allowed) or isinstance(
        value, tuple(a for a in allowed if isinstance(a, type))
    )


class SimulatorControl:
    """Drives a simulator in another process through its control API; same method names as Simulator."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def portal_url(self, name: str) -> str:
        """`{base}/{name}`, or the portal's own port when it has one (asks the simulator)."""
        own = self.state()["portals"].get(name, {}).get("own_port")
        return f"{self.base_url.rsplit(':', 1)[0]}:{own}/{name}" if own else f"{self.base_url}/{name}"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth/token/"

    def _request(self, url: str, body: bytes | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        verb = "POST" if body is not None else "GET"
        req = urllib.request.Request(url, data=body, headers=headers, method=verb)  # noqa: S310 - our own http URL
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - our own http URL
                return json.loads(resp.read())["result"]
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                message = str(exc)
            raise SimulatorError(message) from None

    def _post(self, action: str, **kwargs) -> Any:
        return self._request(f"{self.base_url}/_control/{action}", json.dumps(kwargs).encode())

    def add_portal(self, name: str, **kwargs) -> dict:
        return self._post("add_portal", name=name, **kwargs)

    def add_oauth_app(self, portal: str, client_id: str, client_secret: str, **kwargs) -> dict:
        return self._post("add_oauth_app", portal=portal, client_id=client_id, client_secret=client_secret, **kwargs)

    def add_bot(self, portal: str, code: str, **kwargs) -> dict:
        return self._post("add_bot", portal=portal, code=code, **kwargs)

    def remove_bot(self, portal: str, bot: int | str) -> None:
        return self._post("remove_bot", portal=portal, bot=bot)

    def rotate_bot_token(self, portal: str, bot: int | str, new_token: str) -> None:
        return self._post("rotate_bot_token", portal=portal, bot=bot, new_token=new_token)

    def uninstall_app(self, portal: str, client_id: str) -> None:
        return self._post("uninstall_app", portal=portal, client_id=client_id)

    def expire_access_tokens(self, portal: str) -> None:
        return self._post("expire_access_tokens", portal=portal)

    def rename_portal(self, old: str, new: str) -> None:
        return self._post("rename_portal", old=old, new=new)

    def inject_fault(self, portal: str, kind: str, **kwargs) -> dict:
        return self._post("inject_fault", portal=portal, kind=kind, **kwargs)

    def clear_faults(self, portal: str) -> None:
        return self._post("clear_faults", portal=portal)

    def set_latency(self, portal: str, ms: float) -> None:
        return self._post("set_latency", portal=portal, ms=ms)

    def reset_limits(self, portal: str) -> None:
        return self._post("reset_limits", portal=portal)

    def reset_stats(self, portal: str | None = None) -> None:
        return self._post("reset_stats", **({"portal": portal} if portal else {}))

    def load_scenario(self, scenario: dict) -> None:
        return self._post("load_scenario", scenario=scenario)

    def add_events(self, portal: str, bot: int | str, **kwargs) -> dict:
        """kwargs: count=1, age_s=0.0, type="ONIMBOTV2MESSAGEADD"."""
        return self._post("add_events", portal=portal, bot=bot, **kwargs)

    def set_oldest_event_age(self, portal: str, bot: int | str, age_s: float) -> dict:
        return self._post("set_oldest_event_age", portal=portal, bot=bot, age_s=age_s)

    def clear_events(self, portal: str, bot: int | str) -> int:
        return self._post("clear_events", portal=portal, bot=bot)

    def set_bot_user_active(self, portal: str, bot: int | str, active: bool) -> None:
        return self._post("set_bot_user_active", portal=portal, bot=bot, active=active)

    def set_commands(self, portal: str, bot: int | str, commands: list) -> list[dict]:
        return self._post("set_commands", portal=portal, bot=bot, commands=commands)

    def update_bot(self, portal: str, bot: int | str, fields: dict) -> dict:
        return self._post("update_bot", portal=portal, bot=bot, fields=fields)

    def reregister_bot(self, portal: str, bot: int | str, **kwargs) -> dict:
        """kwargs: new_id=None, keep_commands=False."""
        return self._post("reregister_bot", portal=portal, bot=bot, **kwargs)

    def set_outage(self, portal: str, kind: str | None, **kwargs) -> dict:
        """kind: "502", "timeout", "refused", or None to end it; kwargs: sleep_s (timeout)."""
        return self._post("set_outage", portal=portal, kind=kind, **kwargs)

    def remove_bot_code(self, code: str, portals: list | None = None) -> list[str]:
        return self._post("remove_bot_code", code=code, portals=portals)

    def set_webhook_user_active(self, portal: str, active: bool) -> None:
        return self._post("set_webhook_user_active", portal=portal, active=active)

    def set_license(self, portal: str, license: str) -> None:
        return self._post("set_license", portal=portal, license=license)

    def set_app_info(self, portal: str, client_id: str, **kwargs) -> dict:
        """kwargs: days, installed, status (left out: unchanged)."""
        return self._post("set_app_info", portal=portal, client_id=client_id, **kwargs)

    def stats(self, portal: str | None = None) -> dict:
        query = f"?{urlencode({'portal': portal})}" if portal else ""
        return self._request(f"{self.base_url}/_control/stats{query}")

    def messages(self, portal: str) -> list[dict]:
        """What im.message.add posted on the portal, oldest first (from the state)."""
        return self.state()["portals"][portal]["messages"]

    def state(self) -> dict:
        return self._request(f"{self.base_url}/_control/state")

    def set_answer(self, portal: str, bot: int | str, mode: str | None = "answer", **kwargs) -> dict | None:
        """kwargs: delay_s, texts, reply, chat (simulator.dialogs.AnswerBehaviour)."""
        return self._post("set_answer", portal=portal, bot=bot, mode=mode, **kwargs)

    def set_growth(self, portal: str, bot: int | str, growth: bool) -> None:
        return self._post("set_growth", portal=portal, bot=bot, growth=growth)

    def add_webhook(self, portal: str, user_id: int, code: str, scope: str = "im") -> None:
        return self._post("add_webhook", portal=portal, user_id=user_id, code=code, scope=scope)

    def set_webhook_scope(self, portal: str, scope: str) -> None:
        return self._post("set_webhook_scope", portal=portal, scope=scope)

    def dialog(self, portal: str) -> list[dict]:
        """Every dialog message so far, users' and bots', oldest first."""
        return self._request(f"{self.base_url}/_control/dialog?{urlencode({'portal': portal})}")
