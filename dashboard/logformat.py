"""Log formatting for every process: whatever a log line or a traceback holds, webhook codes and
secret query parameters come out masked (checks.bitrix24.transport.mask_url), and data from outside
cannot forge a line.

A portal's error code, a request path or an exception's text are written by whoever sent them: a CR
or LF in them would start what looks like a log entry of our own, an escape sequence would rewrite
the terminal. So the message has every control character escaped (`\\n`, `\\r`, `\\x1b`), and a
traceback keeps its line breaks but has each of its lines indented and its other control characters
escaped: every line that starts at the first column is the start of an entry BotWatch wrote.
"""

import logging
import re

from checks.bitrix24.transport import mask_url

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """The text on one line: every control character written as its escape."""
    return _CONTROL.sub(_escape, text)


def indent_block(text: str) -> str:
    """A traceback or stack under its entry: its own line breaks kept, each line indented."""
    return "\n".join("  " + line for line in _CONTROL_BUT_NEWLINE.sub(_escape, text).split("\n"))


class MaskingFormatter(logging.Formatter):
    """A Formatter whose output, tracebacks included, is masked and cannot forge a log line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [self.formatMessage(record)]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(indent_block(record.exc_text))
        if record.stack_info:
            parts.append(indent_block(self.formatStack(record.stack_info)))
        return mask_url("\n".join(parts))
