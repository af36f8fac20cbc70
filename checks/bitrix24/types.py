"""What the Bitrix24 client hands to the rest of BotWatch: one classified result per bot."""

from dataclasses import dataclass, field
from datetime import datetime

from checks.status import ResponseFormat, Status

BOT_GET = "imbot.v2.Bot.get"  # the method that every verification calls
EVENT_GET = "imbot.v2.Event.get"  # a fetch-mode bot's queue: read with limit 1, never an offset
COMMAND_LIST = "imbot.v2.Command.list"


@dataclass(frozen=True)
class EventPeek:
    """What imbot.v2.Event.get (limit 1, never an offset) said about a bot's queue."""

    oldest_at: datetime | None  # the oldest pending event's date; None when the queue is empty
    portal_now: datetime | None = None  # the portal's clock at that answer (no clock skew)


@dataclass
class BotResult:
    """The outcome of one imbot.v2.Bot.get for one expected bot, in the status taxonomy."""

    bot_pk: int | None  # checks.models.Bot primary key (None for an unsaved bot: "test connection")
    status: Status
    error_code: str | None = None  # Bitrix24 `error`, verbatim; None on success
    error_description: str = ""  # Bitrix24 `error_description` or the transport failure, never a secret
    http_status: int | None = None
    duration_ms: int = 0
    response_format: ResponseFormat = ResponseFormat.NONE
    counters: dict[str, int] | None = None  # countMessage, countCommand, countChat, countUser
    fields: dict = field(default_factory=dict)  # the Bot object as returned
    users: list = field(default_factory=list)
    time: dict = field(default_factory=dict)  # the `time` object: duration, processing, operating, ...
    redirect_url: str = ""  # new portal address when the portal answered with a redirect
    attempts: int = 1  # HTTP requests this outcome took (retries of transient failures included)
    # What the verdict (checks.health) found: checks.health.bot.Problem items; the client sets none.
    problems: list = field(default_factory=list)
    event_backlog_s: int | None = None  # age of the oldest pending event; None: not looked at
    command_names: list[str] | None = None  # from a Command.list made in this run
    event_peek: EventPeek | None = None  # from an Event.get made in this run
    side_notes: list[str] = field(default_factory=list)  # health calls that got no usable answer
    by_portal: bool = False  # the portal failed: this is its status, the bot was not verified

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def operating(self) -> float | None:
        value = self.time.get("operating")
        return float(value) if isinstance(value, (int, float)) else None
