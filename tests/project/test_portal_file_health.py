"""The portal file's health keys: expect and backlog_minutes, validated with their place."""

import pytest
import yaml

from checks.models import Bot, BotEvent
from tests.project.test_portal_file import export, import_problems, run_import

pytestmark = pytest.mark.django_db

FILE = """
portals:
  - name: acme
    url: https://acme.bitrix24.com
    webhook: {user_id: 1, code: "k3y-webhook-code"}
    bots:
      - code: queue_bot
        bot_token: tok
        backlog_minutes: 30
        expect: {eventMode: fetch, language: de, isHidden: false, commands: [help, /start]}
      - code: plain_bot
        bot_token: tok2
"""


def test_expect_and_backlog_minutes_are_imported_and_exported(tmp_path):
    run_import(tmp_path, FILE)
    bot = Bot.objects.get(code="queue_bot")
    assert bot.backlog_minutes == 30
    assert bot.expect == {"eventMode": "fetch", "language": "de", "isHidden": False, "commands": ["help", "start"]}
    assert Bot.objects.get(code="plain_bot").expect == {}
    [entry, plain] = yaml.safe_load(export())["portals"][0]["bots"]
    assert entry["expect"] == bot.expect and entry["backlog_minutes"] == 30
    assert "expect" not in plain and "backlog_minutes" not in plain
    # A key left out of the file clears the stored value, like every other optional key.
    run_import(tmp_path, FILE.replace("        backlog_minutes: 30\n", ""))
    assert Bot.objects.get(code="queue_bot").backlog_minutes is None


def test_bad_expectations_name_their_place_and_change_nothing(tmp_path):
    bad = FILE.replace("eventMode: fetch", "eventMode: polling").replace("backlog_minutes: 30", "backlog_minutes: 0")
    bad = bad.replace("commands: [help, /start]", "commands: [help, HELP], mode: x")
    problems = import_problems(tmp_path, bad)
    assert "portals[0].bots[0].expect.eventMode: must be fetch or webhook" in problems
    assert "portals[0].bots[0].backlog_minutes: must be a whole number of minutes from 1 to 1440" in problems
    assert "portals[0].bots[0].expect.commands[1]: 'HELP' is listed twice" in problems
    assert any(p.startswith("portals[0].bots[0].expect: unknown key 'mode'") for p in problems)
    assert not Bot.objects.exists()


def test_the_files_id_accepts_a_new_id(tmp_path):
    run_import(tmp_path, FILE.replace("      - code: queue_bot\n", "      - code: queue_bot\n        id: 456\n"))
    assert Bot.objects.get(code="queue_bot").pinned_id == 456
    run_import(tmp_path, FILE.replace("      - code: queue_bot\n", "      - code: queue_bot\n        id: 789\n"))
    bot = Bot.objects.get(code="queue_bot")
    assert (bot.bot_id, bot.pinned_id) == (789, 789)
    [event] = BotEvent.objects.filter(bot=bot)
    assert event.kind == BotEvent.Kind.ID_ACCEPTED and event.changes == {"id": [456, 789]}
