"""`manage.py create_api_token NAME --role read|write`: printed once, stored hashed, audited."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from checks.models import ApiToken, AuditLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_token_is_printed_alone_on_the_last_line_and_only_its_hash_is_stored():
    out = StringIO()
    call_command("create_api_token", "grafana", "--role", "read", stdout=out)
    token = out.getvalue().splitlines()[-1]
    assert token.startswith("bw_") and len(token) > 40 and " " not in token
    row = ApiToken.objects.get()
    assert (row.name, row.role, row.created_by) == ("grafana", "read", None)
    assert row.digest == ApiToken.hash(token) and row.hint == token[:8]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM checks_apitoken")
        assert not any(token in str(value) for value in cursor.fetchone())
    entry = AuditLog.objects.get(action="create api token")
    assert entry.actor == "create_api_token" and token not in str(entry.changes) + entry.object_repr


@pytest.mark.django_db
def test_each_call_makes_a_new_token():
    tokens = set()
    for _ in range(2):
        out = StringIO()
        call_command("create_api_token", "hook", "--role", "write", stdout=out)
        tokens.add(out.getvalue().splitlines()[-1])
    assert len(tokens) == 2 and ApiToken.objects.filter(role="write").count() == 2


@pytest.mark.django_db
def test_a_blank_name_is_refused():
    with pytest.raises(CommandError, match="NAME must be 1 to 100 characters"):
        call_command("create_api_token", "  ", "--role", "read", stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_the_command_line_refuses_an_unknown_role(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin", "BOTWATCH_VAR_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "x", "--role", "admin"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "invalid choice: 'admin'" in run.stderr
