"""Files that hold secrets, readable by their owner only (mode 0600) from the moment they exist.

A file created with open() gets the process's umask (usually 0644); changing its mode after
writing leaves a moment in which anyone on the machine can read it, and an existing file keeps
its mode through O_CREAT. So the file is opened with 0600 and fchmod-ed before any byte.
"""

import os
from pathlib import Path

PRIVATE = 0o600


def write_private(path: str | Path, data: bytes) -> None:
    """Writes `data` to `path` (replacing what was there), mode 0600 before the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
