"""Deployment settings: security headers on every response (pages, static files, /healthz), a
Content-Security-Policy without inline code, HTTPS-only settings from an https SITE_URL, the
session's age, and `manage.py check --deploy` clean with production-like settings."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "dashboard.settings",
    "DEBUG": "0",
    "SECRET_KEY": "Kq3v-" + "x7Lp9" * 10,
    "BOTWATCH_SECRET_KEYS": "k" * 32,
    "SITE_URL": "https://botwatch.example.com",
    "ALLOWED_HOSTS": "botwatch.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}
PRINT = (
    "from django.conf import settings as s; "
    "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
    "'|'.join(s.SECURE_PROXY_SSL_HEADER or ['none']), s.SESSION_COOKIE_AGE)"
)


def run(tmp_path, *args: str, **overrides: str | None) -> subprocess.CompletedProcess:
    # Not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE either: no deployment sets it.
    dropped = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(PRODUCTION, BOTWATCH_VAR_DIR=str(tmp_path))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_like_settings(tmp_path):
    result = run(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_of_a_redirect_loop_behind_a_proxy(tmp_path):
    result = run(tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECURE_PROXY_SSL_HEADER=None)
    assert result.returncode != 0
    assert "botwatch.W001" in result.stderr and "SECURE_PROXY_SSL_HEADER" in result.stderr


def test_https_site_url_turns_on_hsts_secure_cookies_and_the_proxy_header(tmp_path):
    result = run(tmp_path, "shell", "-v0", "-c", PRINT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["31536000", "True", "True", "True", "HTTP_X_FORWARDED_PROTO|https", "43200"]


def test_plain_http_site_url_leaves_them_off_and_the_session_age_is_a_setting(tmp_path):
    result = run(
        tmp_path,
        "shell",
        "-v0",
        "-c",
        PRINT,
        SITE_URL="http://127.0.0.1:8000",
        SECURE_PROXY_SSL_HEADER=None,
        BOTWATCH_SESSION_HOURS="2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False", "False", "False", "none", "7200"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto", "SECURE_PROXY_SSL_HEADER"),
        ("BOTWATCH_SESSION_HOURS", "0", "BOTWATCH_SESSION_HOURS=0 is below the minimum of 1"),
        ("BOTWATCH_HSTS_SECONDS", "soon", "BOTWATCH_HSTS_SECONDS='soon' is not a whole number"),
    ],
)
def test_malformed_values_stop_start_up_naming_them(tmp_path, name, value, message):
    result = run(tmp_path, "shell", "-v0", "-c", PRINT, **{name: value})
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def anonymous(client, db):
    return client


@pytest.mark.parametrize("path", ["/login/", "/static/dashboard/app.css", "/healthz", "/admin/login/"])
def test_every_response_carries_the_security_headers(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code in (200, 503), path
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy


TEMPLATES = sorted(p for p in (ROOT / "templates").rglob("*.html") if "emails" not in p.parts)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_pages_hold_no_inline_script_handler_or_style(template):
    """What the policy would block in the browser: code and styles belong in static files."""
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text), "inline <script>"
    assert not re.search(r"\son[a-z]+=", text), "an on...= handler"
    assert not re.search(r"\sstyle=", text), "a style attribute"
    assert "<style" not in text


def test_the_compose_demo_profile_publishes_no_simulator_control_api():
    # The file as Compose resolves it (the binary .ci/run validates it with), demo profile on.
    compose = Path(__import__("compose").__file__).parent / "docker-compose"
    env = {**os.environ, "SECRET_KEY": "ci", "BOTWATCH_SECRET_KEYS": "ci-only-key-0000"}
    result = subprocess.run(
        [str(compose), "-f", "docker-compose.yml", "--profile", "demo", "config", "--format", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    services = json.loads(result.stdout)["services"]
    assert "ports" not in services["simulator"] and services["simulator"]["expose"] == ["8090"]
    assert [(p["host_ip"], p["published"]) for p in services["mail"]["ports"]] == [("127.0.0.1", "8025")]
