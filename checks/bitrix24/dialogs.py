"""The answer probe's two calls: im.message.add into a bot's dialog, im.dialog.messages.get after it.

What Bitrix24 said, and nothing judged (checks.health.answer says what it means). Both go through
the client's one request path (pacing, deadline, masked logs) with the probe user's webhook when
the portal has one (its `answer_webhook`), else the portal's own credentials.

im.message.add is a write: it is sent once and never retried here. A send whose answer was lost
may have written the message; the engine reads the dialog before it sends again
(checks.engine.answers). Reads are retried like every other call.

Bitrix24: api-reference/chats/messages/im-message-add.md, im-dialog-messages-get.md.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult

MESSAGE_ADD = "im.message.add"
DIALOG_READ = "im.dialog.messages.get"
READ_LIMIT = 50  # the most one im.dialog.messages.get gives


@dataclass
class DialogAnswer:
    """One call's outcome: its result, or Bitrix24's error code, or a failure with no usable answer."""

    result: object = None
    portal_time: float | None = None  # `time.start` of the answer: the portal's clock, epoch seconds
    error_code: str | None = None
    failed: str = ""  # no usable answer (timeout, 5xx page, ...): what happened
    messages: list[dict] = field(default_factory=list)  # reads: the messages, sorted by id

    @property
    def refused(self) -> bool:
        """Bitrix24 answered with an error code (ACCESS_DENIED, insufficient_scope, ...)."""
        return self.error_code is not None and not self.failed


def send_params(dialog: str, text: str) -> dict:
    return {"DIALOG_ID": dialog, "MESSAGE": text, "URL_PREVIEW": "N"}


def read_params(dialog: str, first_id: int | None) -> dict:
    params = {"DIALOG_ID": dialog, "LIMIT": READ_LIMIT}
    if first_id:
        params["FIRST_ID"] = first_id
    return params


def from_answer(answer: Answer | BotResult, transient: bool) -> DialogAnswer:
    """A classified call's outcome. transient: the client judged the answer worth a retry (no verdict in it)."""
    if isinstance(answer, BotResult):
        return DialogAnswer(error_code=answer.error_code, failed=answer.error_description or str(answer.status))
    if answer.failure is not None:
        return DialogAnswer(failed=answer.failure.name.lower())
    if transient or (answer.error_code is None and not answer.is_success):
        return DialogAnswer(error_code=answer.error_code, failed=f"HTTP {answer.http_status}")
    if not isinstance(answer.payload, Mapping):
        return DialogAnswer(failed=f"HTTP {answer.http_status}: an answer that is not JSON")
    payload = answer.payload
    if answer.error_code is not None:
        return DialogAnswer(error_code=answer.error_code)
    time = payload.get("time") if isinstance(payload.get("time"), Mapping) else {}
    start = time.get("start")
    portal_time = float(start) if isinstance(start, int | float) and not isinstance(start, bool) else None
    return DialogAnswer(result=payload.get("result"), portal_time=portal_time)


def sent_message_id(answer: DialogAnswer) -> int | None:
    """im.message.add answers the new message's id."""
    value = answer.result
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def dialog_messages(answer: DialogAnswer) -> list[dict]:
    """The messages of a read, sorted by id: Bitrix24 may give them newest first."""
    result = answer.result if isinstance(answer.result, Mapping) else {}
    messages = result.get("messages")
    rows = [m for m in messages if isinstance(m, Mapping)] if isinstance(messages, list) else []
    clean = []
    for message in rows:
        try:
            clean.append({**message, "id": int(message.get("id")), "author_id": int(message.get("author_id") or 0)})
        except (TypeError, ValueError):
            continue
    return sorted(clean, key=lambda m: m["id"])
