"""One HTTP exchange with Bitrix24 through the one outbound client, secrets masked wherever a URL may be logged.

`exchange` is how the client talks to a portal or the OAuth server: checks.net.client's
`request` (no redirect followed, at most `max_body` bytes read, the address rule on the
connected address, the whole exchange within its time). The webhook code sits in the URL
path (`/rest/<user>/<code>/<method>`), and the OAuth refresh sends client_secret and
refresh_token in the query string, so every URL that reaches a log line goes through
`mask_url`, and urllib3's own DEBUG lines are filtered the same way.
"""

import logging
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables

from checks.bitrix24.outcome import error_fields, parse_json
from checks.net.client import MAX_BODY, Reply, request

_WEBHOOK_PATH = re.compile(r"(/rest/\d+/)[^/?#\s\"']+")
_SECRET_PARAMS = re.compile(
    r"((?:auth|client_secret|refresh_token|access_token|botToken|BOT_TOKEN)=)[^&\s\"']*", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """The URL with the webhook code and secret query parameters replaced by ***."""
    return _SECRET_PARAMS.sub(r"\1***", _WEBHOOK_PATH.sub(r"\1***", url))


class MaskSecretsFilter(logging.Filter):
    """urllib3 logs request paths at DEBUG ("POST /rest/1/<code>/..."); mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(mask_url(a) if isinstance(a, str) else a for a in args)
        record.msg = mask_url(str(record.msg))
        return True


def install_log_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, MaskSecretsFilter) for f in logger.filters):
        logger.addFilter(MaskSecretsFilter())


install_log_filter()


@dataclass
class Answer(Reply):
    """What came back (checks.net.client.Reply), with what the client adds on its way."""

    attempts: int = 1
    refusal: str = ""  # a redirect not followed: why (checks.bitrix24.redirects)
    redirect_to: str = ""  # ...and the portal address it pointed to, when there was one

    @cached_property
    def payload(self) -> Any:
        return None if self.truncated else parse_json(self.body)

    @property
    def error_code(self) -> str | None:
        error = error_fields(self.payload)
        return error[0] if error else None

    @property
    def is_success(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status <= 299 and self.error_code is None


@sensitive_variables("url", "json", "params")
def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    seconds: float,
    json: dict | None = None,
    params: dict | None = None,
    max_body: int = MAX_BODY,
) -> Answer:
    """One request to a portal or the OAuth server and its answer, all within `seconds` (checks.net.client)."""
    reply = request(method, url, seconds=seconds, json=json, params=params, max_body=max_body, session=session)
    return Answer(**asdict(reply))
