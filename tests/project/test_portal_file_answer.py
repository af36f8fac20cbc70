"""The portal file's answer probe keys: a bot's answer and silence, a portal's answer_webhook (a secret)."""

import pytest
import yaml

from checks.models import Bot, Portal
from tests.project.test_portal_file import export, import_problems, run_import

pytestmark = pytest.mark.django_db

FILE = """
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: "k3y-webhook-code"}
    answer_webhook: {user_id: 9, code: "pr0be-code"}
    interval: 300
    bots:
      - code: support_bot
        bot_token: tok
        answer: {text: /ping}
        silence: 14400
      - code: chat_bot
        bot_token: tok2
        answer: {text: hello, within: 60, every: 600, dialog: chat12}
      - code: plain_bot
        bot_token: tok3
"""


def test_answer_and_silence_are_imported_with_their_defaults_and_exported(tmp_path):
    run_import(tmp_path, FILE)
    assert Bot.objects.get(code="support_bot").answer == {"text": "/ping", "within": 30, "every": 900}
    assert Bot.objects.get(code="support_bot").silence == 14400
    assert Bot.objects.get(code="chat_bot").answer["dialog"] == "chat12"
    assert Bot.objects.get(code="plain_bot").answer == {}
    portal = yaml.safe_load(export())["portals"][0]
    assert portal["answer_webhook"] == {"user_id": 9}  # the code is a secret
    [support, chat, plain] = portal["bots"]
    assert chat["answer"] == {"text": "hello", "within": 60, "every": 600, "dialog": "chat12"}
    assert support["answer"] == {"text": "/ping", "within": 30, "every": 900} and support["silence"] == 14400
    assert "answer" not in plain and "silence" not in plain
    with_secrets = yaml.safe_load(export("--with-secrets"))["portals"][0]
    assert with_secrets["answer_webhook"] == {"user_id": 9, "code": "pr0be-code"}


def test_the_probe_webhook_code_is_stored_encrypted_and_kept_when_left_out(tmp_path):
    run_import(tmp_path, FILE)
    run_import(tmp_path, FILE.replace(', code: "pr0be-code"', ""))
    portal = Portal.objects.get(name="acme")
    assert portal.answer_webhook_user_id == 9 and portal.answer_webhook_code == "pr0be-code"
    assert "answer_webhook_code" in Portal.SECRET_FIELDS
    run_import(tmp_path, FILE.replace('    answer_webhook: {user_id: 9, code: "pr0be-code"}\n', ""))
    assert Portal.objects.get(name="acme").answer_webhook_code == ""


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("answer: {within: 30}", "portals[0].bots[0].answer.text: is required"),
        ("answer: {text: /ping, within: 0}", "portals[0].bots[0].answer.within: must be a whole number of seconds"),
        (
            "answer: {text: /ping, every: 120}",
            "portals[0].bots[0].answer.every: must not be below the portal's interval",
        ),
        (
            "answer: {text: /ping, dialog: sg12}",
            "portals[0].bots[0].answer.dialog: must be a test chat such as chat123",
        ),
        ("answer: {text: /ping, wait: 3}", "portals[0].bots[0].answer: unknown key 'wait'"),
        ("answer: /ping", "portals[0].bots[0].answer: must be a mapping"),
        ("silence: 10", "portals[0].bots[0].silence: must be a whole number of seconds from 60"),
    ],
)
def test_bad_answer_keys_name_their_place(tmp_path, entry, problem):
    text = FILE.replace("        answer: {text: /ping}\n        silence: 14400\n", f"        {entry}\n")
    problems = import_problems(tmp_path, text)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_probe_webhook_without_its_code_is_a_problem(tmp_path):
    problems = import_problems(tmp_path, FILE.replace(', code: "pr0be-code"', ""))
    assert problems == ["portals[0].answer_webhook: code is required"]


def test_a_moved_portal_needs_the_probe_webhook_code_again(tmp_path):
    run_import(tmp_path, FILE)
    moved = FILE.replace("acme.bitrix24.com", "acme.example.org").replace(', code: "pr0be-code"', "")
    assert import_problems(tmp_path, moved) == [
        "portals[0]: url moves acme from acme.bitrix24.com to acme.example.org: give answer_webhook.code again, "
        "or confirm with --send-credentials-to acme.example.org"
    ]
    run_import(tmp_path, FILE.replace("acme.bitrix24.com", "acme.example.org"))  # every secret given again
    assert Portal.objects.get(name="acme").url == "https://acme.example.org"
