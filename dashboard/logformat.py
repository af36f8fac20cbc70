"""Log formatting for every process: whatever a log line or a traceback holds, webhook codes and
secret query parameters come out masked (checks.bitrix24.transport.mask_url)."""

import logging

from checks.bitrix24.transport import mask_url


class MaskingFormatter(logging.Formatter):
    """A Formatter whose output, tracebacks included, goes through mask_url."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_url(super().format(record))
