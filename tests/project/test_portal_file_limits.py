"""A hostile or broken portal file is refused quickly and in few words: size, aliases, nesting and
the problem list are bounded; exit 2 and nothing written, as for every bad file."""

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from checks.models import AuditLog, Bot, Portal
from checks.portal_file import bounded
from checks.portal_file.load import PortalFileError, import_portal_file

MAX_PROBLEMS = 100  # the first 100 problems are listed, then a count

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(20)]

# 9 lists of 9 references to the list before: 9**9 "lol"s from a few hundred bytes.
BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)),
        "portals:",
        "  - name: acme",
        "    url: https://acme.bitrix24.com",
        "    webhook: {user_id: 1, code: k}",
        "    alert_emails: *i",
    ]
)
# Merge keys copy every referenced mapping: 9 levels of 9 merges each.
MERGE_BOMB = "\n".join(
    [
        "a: &a {x0: 1, x1: 1, x2: 1, x3: 1, x4: 1, x5: 1, x6: 1, x7: 1, x8: 1}",
        *(
            f"{b}: &{b} {{<<: [{','.join(['*' + a] * 9)}], {b}: 1}}"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "portals: []",
    ]
)
NORMAL_ANCHORS = """
portals:
  - &acme
    name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: k3y}
    bots: [{code: support_bot, bot_token: t1}]
  - <<: *acme
    name: acme2
"""
HEAD = "portals:\n  - name: acme\n    url: https://acme.bitrix24.com\n    webhook: {user_id: 1, code: k}\n"


def import_file(tmp_path, content: str | bytes, name: str = "portals.yaml") -> tuple[str, CommandError]:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_portals", str(path), stderr=err)
    return err.getvalue(), excinfo.value


def assert_refused(tmp_path, content, expected: str, name: str = "portals.yaml") -> str:
    stderr, error = import_file(tmp_path, content, name)
    assert error.returncode == 2
    assert "nothing was imported" in str(error)
    assert len(stderr) < 20_000 and len(stderr.splitlines()) <= MAX_PROBLEMS + 1
    assert expected in stderr, stderr[:2000]
    assert not Portal.objects.exists()
    return stderr


def test_billion_laughs_is_refused(tmp_path):
    assert_refused(tmp_path, BILLION_LAUGHS, "expands to more than 200,000 values")


def test_merge_key_bomb_is_refused(tmp_path):
    assert_refused(tmp_path, MERGE_BOMB, "expands to more than 200,000 values")


def test_too_many_aliases_are_refused(tmp_path):
    text = "x: &x 1\nportals: [" + ", ".join(["*x"] * 150) + "]\n"
    assert_refused(tmp_path, text, "more than 100 aliases")


@pytest.mark.parametrize("name", ["portals.yaml", "portals.json"])
def test_deep_nesting_is_refused(tmp_path, name):
    assert_refused(tmp_path, '{"portals": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 32", name)


def test_moderate_json_nesting_beyond_the_limit_is_refused(tmp_path):
    nested: list = []
    for _ in range(40):
        nested = [nested]
    assert_refused(tmp_path, json.dumps({"portals": nested}), "nested more than 32", "portals.json")


OVER = bounded.MAX_FILE_BYTES + 1024
TOO_LARGE = f"larger than {bounded.MAX_FILE_BYTES // (1024 * 1024)} MB"


def test_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    big = "portals: []\n" + "#" * OVER + "\n"
    assert_refused(tmp_path, big, TOO_LARGE)


def test_a_large_file_without_aliases_is_not_counted_as_an_expansion(monkeypatch):
    """A fleet's file has more values than aliases may add (100,000 bots: about 500,000); here with
    the bound at 1,000, a file of 5,000 values loads and 1,000 more through aliases do not."""
    monkeypatch.setattr(bounded, "MAX_VALUES", 1000)
    text = "bots:\n" + "".join(f"  - {{code: b{i}, bot_token: t{i}}}\n" for i in range(1000))
    assert len(bounded.load_yaml(text)["bots"]) == 1000
    bomb = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    with pytest.raises(bounded.LimitError, match="expands to more than 1,000 values"):
        bounded.load_yaml(bomb)


def test_ten_thousand_problems_are_listed_as_the_first_hundred_and_a_count(tmp_path):
    bots = "\n".join("      - {code: b%d}" % i for i in range(10_000))  # noqa: UP031
    text = f"{HEAD}    bots:\n{bots}\n"
    stderr = assert_refused(tmp_path, text, "bot_token is required")
    lines = stderr.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[-1] == f"... and {10_000 - MAX_PROBLEMS} more problems"


def test_long_values_are_cut_in_problems(tmp_path):
    text = f"{HEAD}    alert_emails: ['{'x' * 5000}']\n"
    stderr = assert_refused(tmp_path, text, "is not an email address")
    assert len(stderr) < 300


def test_anchors_and_merges_of_an_ordinary_file_still_import(tmp_path):
    path = tmp_path / "portals.yaml"
    path.write_text(NORMAL_ANCHORS)
    call_command("import_portals", str(path), stdout=StringIO())
    assert sorted(Portal.objects.values_list("name", flat=True)) == ["acme", "acme2"]
    assert Bot.objects.count() == 2


def test_import_function_refuses_oversized_text():
    with pytest.raises(PortalFileError) as excinfo:
        import_portal_file("portals: []\n" + " " * OVER)
    assert TOO_LARGE in excinfo.value.problems[0]


@pytest.fixture
def admin_client(client, dashboard_admin):
    client.force_login(dashboard_admin)
    return client


def test_dashboard_upload_of_a_bomb_shows_the_problem_and_writes_nothing(admin_client):
    upload = SimpleUploadedFile("portals.yaml", BILLION_LAUGHS.encode())
    response = admin_client.post(reverse("dashboard:portal-file"), {"file": upload})
    body = response.content.decode()
    assert response.status_code == 200
    assert "expands to more than 200,000 values" in body
    assert len(body) < 50_000
    assert not Portal.objects.exists() and not AuditLog.objects.filter(action="import").exists()


def test_dashboard_upload_over_the_size_limit_is_refused_unread(admin_client):
    upload = SimpleUploadedFile("portals.yaml", b"portals: []\n" + b"#" * OVER)
    response = admin_client.post(reverse("dashboard:portal-file"), {"file": upload})
    assert TOO_LARGE in response.content.decode()
    assert not AuditLog.objects.filter(action="import").exists()


def test_dashboard_paste_beyond_what_django_reads_says_to_upload_instead(admin_client):
    response = admin_client.post(reverse("dashboard:portal-file"), {"text": "portals: []\n" + "#" * (3 * 1024 * 1024)})
    assert response.status_code == 400
    assert "upload it as a file" in response.content.decode()
