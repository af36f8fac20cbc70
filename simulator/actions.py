"""Control actions that make a bot installed but broken: a backlog, a switched-off user, drift, re-registration.

A mixin of Simulator (simulator.server); each action is also a control API action (simulator.control).
Bad arguments raise SimulatorError with a message naming them; `bot` takes the bot's code or id.
"""

import threading
from collections.abc import Callable

from simulator import dialogs, health
from simulator.errors import SimulatorError
from simulator.state import BotState, PortalState


class BotHealthActions:
    """Needs from Simulator: _lock, clock, _portal(name), _bot(state, ref)."""

    _lock: threading.RLock
    clock: Callable[[], float]
    _portal: Callable[[str], PortalState]
    _bot: Callable[[PortalState, int | str], BotState]

    def add_events(
        self, portal: str, bot: int | str, count: int = 1, age_s: float = 0.0, type: str = "ONIMBOTV2MESSAGEADD"
    ) -> dict:
        """Queues `count` events for a fetch-mode bot: the oldest `age_s` seconds old, the rest spread up to now.

        Event ids grow with every call, and Event.get answers by id: events added later come after
        the ones already queued, whatever their age.
        """
        health.check_event_args(count, age_s, type)
        with self._lock:
            state = self._portal(portal)
            found = self._bot(state, bot)
            now = self.clock()
            added = health.make_events(found.id, found.code, state.next_event_id, count, float(age_s), type, now)
            state.next_event_id += count
            found.events.extend(added)
            return {"event_ids": [e["id"] for e in added], "pending": len(found.events)}

    def set_oldest_event_age(self, portal: str, bot: int | str, age_s: float) -> dict:
        """Moves the bot's pending events so that the oldest is exactly `age_s` seconds old."""
        if isinstance(age_s, bool) or not isinstance(age_s, int | float) or age_s < 0:
            raise SimulatorError("age_s must be a non-negative number of seconds")
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            if not found.events:
                raise SimulatorError(f"bot {found.code!r} has no pending events; add_events first")
            health.shift_to_oldest_age(found.events, float(age_s), self.clock())
            return {"pending": len(found.events)}

    def clear_events(self, portal: str, bot: int | str) -> int:
        """Empties the bot's queue, as a backend that polled and acknowledged everything; returns how many went."""
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            cleared = len(found.events)
            found.events = []
            return cleared

    def set_bot_user_active(self, portal: str, bot: int | str, active: bool) -> None:
        """Switches the bot's user account off (users[].active false in Bot.get) or on again."""
        if not isinstance(active, bool):
            raise SimulatorError("active must be true or false")
        with self._lock:
            self._bot(self._portal(portal), bot).user_active = active

    def set_commands(self, portal: str, bot: int | str, commands: list) -> list[dict]:
        """Replaces the bot's slash commands (names, or mappings of Command.list fields); countCommand follows."""
        with self._lock:
            state = self._portal(portal)
            found = self._bot(state, bot)
            built = health.build_commands(commands, found.id, state.next_command_id)
            state.next_command_id += len(built)
            found.commands = built
            found.counters["countCommand"] = len(built)
            return [dict(c) for c in built]

    def update_bot(self, portal: str, bot: int | str, fields: dict) -> dict:
        """Bot.update of config fields (camelCase: type, eventMode, language, isHidden, isSupportOpenline,
        isReactionsEnabled, backgroundId), validated; returns the bot's extended fields."""
        changes = health.check_config_fields(fields)
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            for attribute, value in changes.items():
                setattr(found, attribute, value)
            return found.extended()

    def reregister_bot(
        self, portal: str, bot: int | str, new_id: int | None = None, keep_commands: bool = False
    ) -> dict:
        """Unregister and register again: same code, owner, token and config under a new id, counters at 0,
        no events, a fresh (active) user. The old id then answers BOT_NOT_FOUND."""
        if new_id is not None and (isinstance(new_id, bool) or not isinstance(new_id, int) or new_id < 1):
            raise SimulatorError("new_id must be a positive integer")
        with self._lock:
            state = self._portal(portal)
            old = self._bot(state, bot)
            new_id = state.next_bot_id() if new_id is None else new_id
            if new_id in state.bots:
                raise SimulatorError(f"bot id {new_id} is already taken on portal {portal!r}")
            new = BotState(
                id=new_id, code=old.code, client_id=old.client_id, bot_token=old.bot_token,
                app_client_id=old.app_client_id, type=old.type, language=old.language, name=old.name,
                event_mode=old.event_mode, is_hidden=old.is_hidden, is_support_openline=old.is_support_openline,
                is_reactions_enabled=old.is_reactions_enabled, background_id=old.background_id, growth=old.growth,
            )  # fmt: skip
            if keep_commands:
                new.commands = [{**c, "botId": new_id} for c in old.commands]
                new.counters["countCommand"] = len(new.commands)
            del state.bots[old.id]
            state.bots[new_id] = new
            return {**new.as_dict(), "old_id": old.id}

    def set_answer(self, portal: str, bot: int | str, mode: str | None = "answer", **options) -> dict | None:
        """How the bot's backend answers what is written to it (simulator.dialogs.AnswerBehaviour):
        mode answer (delay_s, texts, reply, chat), never, error or refuse; mode None: it gets no messages."""
        behaviour = None if mode is None else dialogs.build_behaviour(mode, **options)
        with self._lock:
            found = self._bot(self._portal(portal), bot)
            found.answer = behaviour
            return behaviour.as_dict() if behaviour is not None else None

    def set_growth(self, portal: str, bot: int | str, growth: bool) -> None:
        """growth False: the bot's countMessage stops growing between looks (a silent bot)."""
        if not isinstance(growth, bool):
            raise SimulatorError("growth must be true or false")
        with self._lock:
            self._bot(self._portal(portal), bot).growth = growth

    def add_webhook(self, portal: str, user_id: int, code: str, scope: str = "im") -> None:
        """A further incoming webhook of another user (a dedicated probe user), with its scope."""
        if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 1 or not code:
            raise SimulatorError("user_id (a positive integer) and code are required")
        with self._lock:
            self._portal(portal).extra_webhooks[(user_id, str(code))] = str(scope)

    def set_webhook_scope(self, portal: str, scope: str) -> None:
        """The scope of the portal's own webhook, e.g. "imbot" alone: im methods then answer insufficient_scope."""
        with self._lock:
            self._portal(portal).webhook_scope = str(scope)

    def dialog(self, portal: str) -> list[dict]:
        """Every dialog message written so far (users' and bots'), answers that are due included."""
        with self._lock:
            state = self._portal(portal)
            dialogs.deliver_due(state.dialogs, self.clock(), lambda: _next_message_id(state))
            return [dict(m) for m in state.dialogs.messages]


def _next_message_id(state: PortalState) -> int:
    state.next_message_id += 1
    return state.next_message_id - 1
