"""Log lines cannot be forged: outside data (a portal's error code, an exception's text) has its
control characters escaped, in the web process and in Celery's workers alike."""

import logging
import sys

import pytest

from dashboard.celery import app
from dashboard.logformat import MaskingFormatter

FORMAT = "%(levelname)s %(name)s: %(message)s"


def record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("checks.bitrix24.client", logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_portals_error_code_with_a_line_break_stays_on_its_line():
    forged = "BOT_NOT_FOUND\r\nERROR checks.engine: portal acme: all bots ok\x1b[2K"
    text = MaskingFormatter(FORMAT).format(record("portal=%s method=%s error=%s", "acme", "imbot.v2.Bot.get", forged))
    assert text.splitlines() == [
        "INFO checks.bitrix24.client: portal=acme method=imbot.v2.Bot.get "
        "error=BOT_NOT_FOUND\\r\\nERROR checks.engine: portal acme: all bots ok\\x1b[2K"
    ]


def test_a_traceback_keeps_its_lines_indented_under_its_entry():
    try:
        raise ValueError("bad answer\nERROR checks.engine: forged\u2028x")
    except ValueError:
        exc_info = sys.exc_info()
    lines = MaskingFormatter(FORMAT).format(record("verification failed", exc_info=exc_info)).split("\n")
    assert lines[0] == "INFO checks.bitrix24.client: verification failed"
    assert lines[1] == "  Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in lines[1:])
    assert "  ERROR checks.engine: forged\\u2028x" in lines


@pytest.fixture
def fresh_logging():
    root = logging.getLogger()
    handlers, level, already = root.handlers[:], root.level, app.log.already_setup
    app.log.already_setup = False
    yield root
    root.handlers[:], app.log.already_setup = handlers, already
    root.setLevel(level)


def test_a_celery_worker_logs_through_the_same_formatter(fresh_logging):
    # What `celery worker` and `celery beat` do at start: without a receiver, Celery replaces the
    # root handlers with its own, unmasked and unescaped.
    app.log.setup_logging_subsystem(loglevel="INFO", colorize=False)
    assert fresh_logging.handlers
    assert all(isinstance(handler.formatter, MaskingFormatter) for handler in fresh_logging.handlers)
