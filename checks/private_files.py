"""Files that hold secrets, readable by their owner only (mode 0600) from the moment they exist.

A file created with open() gets the process's umask (usually 0644); changing its mode after
writing leaves a moment in which anyone on the machine can read it, and an existing file keeps
its mode through O_CREAT. So the file is opened with 0600 and fchmod-ed before any byte.
Whole files (exports) are written beside their place and renamed into it (write_private).
"""

import os
import tempfile
from pathlib import Path

PRIVATE = 0o600


def write_private(path: str | Path, data: bytes) -> None:
    """Puts `data` at `path` as a new file of ours, mode 0600 before the first byte.

    Written to a fresh file beside it (created with O_EXCL: never one that exists, never through a
    link), then renamed over `path`: whatever `path` was (a file of another user, a symlink to
    elsewhere, a hard link) is replaced, never written through, and a reader never sees half a file.
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, PRIVATE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
