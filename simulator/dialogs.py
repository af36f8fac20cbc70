"""Dialogs: what users write to bots, and what the bots' backends answer, and when.

A bot's backend gets each message written into its dialog (ONIMBOTV2MESSAGEADD) and answers it
as its `answer` behaviour says: after a delay, never, only for some texts, or with an error (its
handler fails, so nothing is written). Answers wait in PortalState.pending_answers until their
time; every REST call that reads or writes a dialog first delivers the answers that are due, so
that nothing here sleeps or runs in the background.

A personal dialog between user A and bot B is one chat, seen as DIALOG_ID "B" by A and "A" by B;
a group chat is "chatN" (a bot answers there when its behaviour names that chat).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator.errors import RestError, SimulatorError

MODES = ("answer", "never", "error", "refuse")
MAX_LIMIT = 50  # im.dialog.messages.get LIMIT: default 20, at most 50


@dataclass
class AnswerBehaviour:
    """How a bot's backend answers: `answer` after delay_s (only texts in `texts` when given),
    `never`, `error` (the handler fails: nothing is written), `refuse` (its dialog refuses writes:
    im.message.add answers ACCESS_DENIED)."""

    mode: str = "answer"
    delay_s: float = 0.5
    texts: list[str] | None = None
    reply: str = "pong"
    chat: str | None = None  # "chatN": the bot also answers in that group chat

    def as_dict(self) -> dict:
        return {"mode": self.mode, "delay_s": self.delay_s, "texts": self.texts, "reply": self.reply,
                "chat": self.chat}  # fmt: skip


@dataclass
class Dialogs:
    """Every message of the portal's dialogs (chat key -> messages) and the answers still to come."""

    messages: list[dict] = field(default_factory=list)  # {"id", "chat", "author_id", "text", "date"}
    pending: list[dict] = field(default_factory=list)  # {"due", "chat", "bot_id", "text"}
    answers_written: int = 0
    answers_failed: int = 0  # `error` behaviour: the handler failed


def build_behaviour(mode: str = "answer", delay_s: float = 0.5, texts: list | None = None, reply: str = "pong",
                    chat: str | None = None) -> AnswerBehaviour:  # fmt: skip
    """A checked behaviour; SimulatorError names the bad argument."""
    if mode not in MODES:
        raise SimulatorError(f"mode must be one of {', '.join(MODES)}")
    if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or delay_s < 0:
        raise SimulatorError("delay_s must be a non-negative number of seconds")
    if texts is not None and (not isinstance(texts, list) or not all(isinstance(t, str) for t in texts)):
        raise SimulatorError("texts must be a list of strings (the texts the bot answers)")
    if not isinstance(reply, str) or not reply:
        raise SimulatorError("reply must be a non-empty string")
    if chat is not None and (not isinstance(chat, str) or not chat.startswith("chat") or not chat[4:].isdigit()):
        raise SimulatorError("chat must look like chat123")
    return AnswerBehaviour(mode, float(delay_s), texts, reply, chat)


def chat_key(user_id: int, dialog_id: str) -> str:
    """The chat a DIALOG_ID names for this user: "chatN" as it is, a personal dialog as "low:high"."""
    if dialog_id.lower().startswith("chat"):
        return dialog_id.lower()
    low, high = sorted((user_id, int(dialog_id)))
    return f"{low}:{high}"


def iso(epoch: float) -> str:
    """Bitrix24's message dates: ISO 8601 with an offset, whole seconds."""
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="seconds")


def deliver_due(dialogs: Dialogs, now: float, next_id) -> list[dict]:
    """Writes the answers whose time has come (in their order); returns them."""
    due = sorted((p for p in dialogs.pending if p["due"] <= now), key=lambda p: p["due"])
    dialogs.pending = [p for p in dialogs.pending if p["due"] > now]
    written = []
    for answer in due:
        message = {"id": next_id(), "chat": answer["chat"], "author_id": answer["bot_id"], "text": answer["text"],
                   "date": answer["due"]}  # fmt: skip
        dialogs.messages.append(message)
        dialogs.answers_written += 1
        written.append(message)
    return written


def note_message(dialogs: Dialogs, message_id: int, chat: str, author_id: int, text: str, now: float) -> None:
    dialogs.messages.append({"id": message_id, "chat": chat, "author_id": author_id, "text": text, "date": now})


def plan_answer(dialogs: Dialogs, behaviour: AnswerBehaviour, bot_id: int, chat: str, text: str, now: float) -> None:
    """What the bot's backend does with a message it received."""
    if behaviour.mode == "never" or (behaviour.texts is not None and text not in behaviour.texts):
        return
    if behaviour.mode == "error":
        dialogs.answers_failed += 1
        return
    dialogs.pending.append({"due": now + behaviour.delay_s, "chat": chat, "bot_id": bot_id, "text": behaviour.reply})


def read_dialog(dialogs: Dialogs, chat: str, first_id: int, last_id: int, limit: int) -> list[dict]:
    """im.dialog.messages.get: ids above FIRST_ID (or below LAST_ID), LIMIT of them, newest first.

    With FIRST_ID the oldest ones after it are taken (those the reader has not seen), then given
    newest first, as the portal may: callers sort by id themselves.
    """
    if limit <= 0:
        limit = 20
    limit = min(limit, MAX_LIMIT)
    found = [m for m in dialogs.messages if m["chat"] == chat]
    if first_id > 0:
        found = sorted((m for m in found if m["id"] > first_id), key=lambda m: m["id"])[:limit]
    else:
        if last_id > 0:
            found = [m for m in found if m["id"] < last_id]
        found = sorted(found, key=lambda m: m["id"])[-limit:]
    return sorted(found, key=lambda m: m["id"], reverse=True)


def message_answer(message: dict, chat_id: int) -> dict:
    """One entry of `messages[]` as im.dialog.messages.get gives it."""
    return {
        "id": message["id"],
        "chat_id": chat_id,
        "author_id": message["author_id"],
        "date": iso(message["date"]),
        "text": message["text"],
        "unread": False,
        "uuid": None,
        "replaces": [],
        "params": [],
    }


def chat_number(chat: str) -> int:
    """A stable chat_id for a chat key (group chats keep their number)."""
    if chat.startswith("chat"):
        return int(chat[4:])
    low, high = chat.split(":")
    return 1000 + int(low) * 7 + int(high)


def refuse_without_im(scope: str) -> None:
    """The im methods need the `im` scope of the calling webhook or app."""
    if "im" not in scope.replace(",", " ").split():
        raise RestError("insufficient_scope")
