"""Settings come from the environment; a missing or malformed value stops start-up naming it."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from dashboard.embedded_db import is_running, running
from dashboard.env import parse_database_url

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "SECRET_KEY": "s" * 50,
    "BOTWATCH_SECRET_KEYS": "k" * 32,
    "DJANGO_SETTINGS_MODULE": "dashboard.settings",
}
PRINT = (
    "from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.BOTWATCH_CHECK_INTERVAL, s.EMAIL_BACKEND)"
)


def start(var_dir, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(GOOD, BOTWATCH_VAR_DIR=str(var_dir))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    # manage.py is the entry point every process shares; `shell -c` loads the settings.
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", PRINT], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_embedded_defaults_need_no_server(var_dir):
    result = start(var_dir)
    assert result.returncode == 0, result.stderr
    engine, broker, interval, email = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert broker == "filesystem://"
    assert interval == "300"
    assert email == "django.core.mail.backends.console.EmailBackend"
    assert (var_dir / "broker" / "queue").is_dir()


def test_services_from_urls(var_dir):
    result = start(
        var_dir,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        EMAIL_HOST="smtp.example.com",
        BOTWATCH_CHECK_INTERVAL="60",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://127.0.0.1:6379/0",
        "60",
        "django.core.mail.backends.smtp.EmailBackend",
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECRET_KEY", None, "SECRET_KEY is not set"),
        ("BOTWATCH_SECRET_KEYS", None, "BOTWATCH_SECRET_KEYS is not set"),
        ("BOTWATCH_SECRET_KEYS", "short", "BOTWATCH_SECRET_KEYS: key 1 is shorter than 16 characters"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("BOTWATCH_CHECK_INTERVAL", "5m", "BOTWATCH_CHECK_INTERVAL='5m' is not a whole number"),
        ("BOTWATCH_CHECK_INTERVAL", "10", "BOTWATCH_CHECK_INTERVAL=10 is below the minimum of 30"),
        ("BITRIX24_TIMEOUT", "fast", "BITRIX24_TIMEOUT='fast' is not a number"),
        ("EMAIL_PORT", "99999", "EMAIL_PORT=99999 is above the maximum of 65535"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: 'mysql://x/y' must be a postgres:// URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: 'localhost:6379' must start with one of redis://, rediss://"),
        ("SITE_URL", "botwatch.example.com", "SITE_URL: 'botwatch.example.com' must start with one of http://"),
        ("BITRIX24_OAUTH_URL", "https://", "BITRIX24_OAUTH_URL: 'https://' has no host name"),
        ("BOTWATCH_ALERT_EMAILS", "ops@example.com,nobody", "BOTWATCH_ALERT_EMAILS: 'nobody' is not an email address"),
        ("BOTWATCH_ALLOW_HTTP", "sometimes", "BOTWATCH_ALLOW_HTTP='sometimes' is not a boolean"),
        ("BOTWATCH_DB_POOL_SIZE", "1", "BOTWATCH_DB_POOL_SIZE=1 is below the minimum of 2"),
        ("BOTWATCH_ALLOW_PRIVATE_PORTALS", "lan", "BOTWATCH_ALLOW_PRIVATE_PORTALS='lan' is not a boolean"),
        ("BOTWATCH_WORKER_CONCURRENCY", "1", "BOTWATCH_WORKER_CONCURRENCY=1 is below the minimum of 2"),
        ("BOTWATCH_RESERVED_THREADS", "0", "BOTWATCH_RESERVED_THREADS=0 is below the minimum of 1"),
        ("BOTWATCH_TRUSTED_PROXIES", "1", "BOTWATCH_TRUSTED_PROXIES=1 is a count of proxies; it now lists their"),
        ("BOTWATCH_TRUSTED_PROXIES", "10.0.0.1,proxy", "BOTWATCH_TRUSTED_PROXIES: 'proxy' is not an IP address or"),
        ("BOTWATCH_LANGUAGE", "de", "BOTWATCH_LANGUAGE='de' is not one of en, ru"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(var_dir, name, value, message):
    result = start(var_dir, **{name: value})
    assert result.returncode == 2
    assert result.stderr.strip() == f"BotWatch configuration error: {message}" or message in result.stderr
    assert "Traceback" not in result.stderr


REUSE = (
    "from django.db import connection; pids = set()\n"
    "for _ in range(30):\n"
    "    with connection.cursor() as c:\n"
    "        c.execute('SELECT pg_backend_pid()'); pids.add(c.fetchone()[0])\n"
    "    connection.close()  # what Celery's Django fixup does before and after every task\n"
    "print(len(pids), connection.settings_dict['OPTIONS'].get('pool', {}).get('max_size', 0))"
)


def test_a_closed_postgresql_connection_goes_back_to_the_pool(var_dir, db):
    # DATABASE_URL's server when the run has one (its test database: the URL's own database need
    # not exist), else the command's own embedded server.
    env = {**GOOD, "BOTWATCH_VAR_DIR": str(var_dir), "BOTWATCH_DB_POOL_SIZE": "12"}
    if os.environ.get("DATABASE_URL"):
        test_database = connection.settings_dict["NAME"]
        env["DATABASE_URL"] = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{test_database}").geturl()
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", REUSE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    backends, max_size = map(int, result.stdout.split())
    # Thirty "tasks" on the pool's few connections (two kept, and any opened while it was
    # filling up), not thirty new backends.
    assert backends <= 4
    assert max_size == 12


def test_passwords_in_urls_are_not_echoed(var_dir):
    result = start(var_dir, DATABASE_URL="mysql://user:hunter2@db/x")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    ("value", "message", "secret"),
    [
        (
            "json://127.0.0.1:9/hook slack://x0xb-T0KEN",
            "BOTWATCH_NOTIFY_URLS: URL 2: slack://… is not a notification URL Apprise can use",
            "x0xb-T0KEN",
        ),
        ("msteams://s3cretTeam/t0kenA", "BOTWATCH_NOTIFY_URLS: URL 1: msteams://…", "s3cretTeam"),
        ("hooks.example.com/s3cr3t-path", "BOTWATCH_NOTIFY_URLS: URL 1: not a URL", "s3cr3t-path"),
        (
            "bitrix24://team.example.com/rest/1/h00k-c0de/?dialog=chat4",
            "BOTWATCH_NOTIFY_URLS: URL 1: bitrix24://team.example.com: bitrix24:// is plain HTTP",
            "h00k-c0de",
        ),
        (
            "bitrix24s://team.example.com/rest/1/h00k-c0de/",
            "BOTWATCH_NOTIFY_URLS: URL 1: bitrix24s://team.example.com: add ?dialog=chatNN",
            "h00k-c0de",
        ),
    ],
)
def test_a_bad_notify_url_stops_start_up_naming_it_without_its_secret(var_dir, value, message, secret):
    result = start(var_dir, BOTWATCH_NOTIFY_URLS=value, BOTWATCH_ALLOW_HTTP="0")
    assert result.returncode == 2
    assert message in result.stderr
    assert secret not in result.stderr and secret not in result.stdout
    assert "Traceback" not in result.stderr


def test_good_notify_urls_start(var_dir):
    urls = (
        "json://127.0.0.1:9/hook\n  tgram://123456789:AAHs3cretT0ken/42 bitrix24s://b24.example.com/rest/1/c/?dialog=4"
    )
    result = start(var_dir, BOTWATCH_NOTIFY_URLS=urls, BOTWATCH_NOTIFY_TIMEOUT="3")
    assert result.returncode == 0, result.stderr
    assert "AAHs3cretT0ken" not in result.stderr


def test_a_command_on_its_own_stops_the_embedded_server_it_started(var_dir):
    result = start(var_dir)
    assert result.returncode == 0, result.stderr
    assert (var_dir / "postgres" / "PG_VERSION").exists()
    assert not is_running(var_dir)


def test_a_command_leaves_running_the_embedded_server_it_found_running(var_dir):
    with running(var_dir):
        result = start(var_dir)
        assert result.returncode == 0, result.stderr
        assert is_running(var_dir)
    assert not is_running(var_dir)


def test_the_embedded_server_socket_folder_is_the_host(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the URL below is the default then
    config = parse_database_url("DATABASE_URL", "postgresql://postgres:@/botwatch?host=/srv/bw/var/postgres")
    assert (config["HOST"], config["NAME"], config["USER"]) == ("/srv/bw/var/postgres", "botwatch", "postgres")
    assert "host" not in config["OPTIONS"]
