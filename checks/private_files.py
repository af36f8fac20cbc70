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


def ensure_private(path: str | Path, *, create: bool) -> None:
    """Makes `path` 0600: created empty when missing (if `create`), group and other bits removed otherwise."""
    path = Path(path)
    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(PRIVATE)


def private_sqlite(name: str) -> None:
    """An SQLite database file and its journals, 0600.

    Created before SQLite opens it, because SQLite gives the -wal and -shm files it creates the
    mode of the database file; existing ones from before are tightened.
    """
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    ensure_private(name, create=True)
    for suffix in ("-wal", "-shm", "-journal"):
        ensure_private(name + suffix, create=False)
