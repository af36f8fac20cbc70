"""import_portals at scale (issue 15): rows written in bulk, in one transaction, with the same
upsert as row by row: changed fields updated, everything else left as it was."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checks.models import AuditLog, Bot, BotEvent, Portal
from checks.status import BotState


def fleet(portals: int, bots: int, prefix: str = "tok") -> dict:
    return {
        "portals": [
            {
                "name": f"p{p:03d}",
                "url": f"https://p{p:03d}.bitrix24.com",
                "webhook": {"user_id": 1, "code": f"code-{p}"},
                "bots": [{"code": f"bot{b}", "bot_token": f"{prefix}-{p}-{b}"} for b in range(bots)],
            }
            for p in range(portals)
        ]
    }


def run_import(tmp_path, data: dict) -> str:
    path = tmp_path / "portals.json"
    path.write_text(json.dumps(data))
    out = StringIO()
    call_command("import_portals", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot() -> list[tuple]:
    """Every stored portal and bot value the file sets, secrets decrypted."""
    portals = [(p.pk, p.name, p.url, p.webhook_code, p.interval) for p in Portal.objects.order_by("pk")]
    bots = [
        (b.pk, b.portal_id, b.code, b.bot_id, b.bot_token, b.enabled, b.expect, b.backlog_minutes, b.status)
        for b in Bot.objects.order_by("pk")
    ]
    return portals + bots


@pytest.mark.django_db
def test_reimport_updates_changed_bots_and_leaves_the_others(tmp_path):
    data = fleet(2, 3)
    run_import(tmp_path, data)
    pks = {(b.portal.name, b.code): b.pk for b in Bot.objects.select_related("portal")}
    # State a verification wrote: an import that rewrote whole rows would reset it.
    Bot.objects.update(status=BotState.OK, consecutive_failures=2, remote_id=77)
    changed = data["portals"][1]["bots"][1]
    changed.update(bot_token="rotated", enabled=False, backlog_minutes=30, expect={"eventMode": "fetch"}, id=9)
    data["portals"][0]["bots"][2].pop("bot_token")  # left out: the stored token is kept
    data["portals"][0]["interval"] = 600
    del data["portals"][1]["bots"][2]  # not in the file: kept as it is (no pruning)

    out = run_import(tmp_path, data)

    assert "0 portal(s) created, 2 updated; 0 bot(s) created, 5 updated" in out
    assert {(b.portal.name, b.code): b.pk for b in Bot.objects.select_related("portal")} == pks
    bot = Bot.objects.get(portal__name="p001", code="bot1")
    assert (bot.bot_token, bot.enabled, bot.backlog_minutes) == ("rotated", False, 30)
    assert (bot.expect, bot.bot_id, bot.pinned_id) == ({"eventMode": "fetch"}, 9, 9)
    assert Bot.objects.get(portal__name="p000", code="bot2").bot_token == "tok-0-2"
    assert Bot.objects.get(portal__name="p001", code="bot2").bot_token == "tok-1-2"
    assert Portal.objects.get(name="p000").interval == 600
    assert Portal.objects.get(name="p001").interval is None
    others = Bot.objects.exclude(pk=bot.pk)
    assert {(b.bot_token == f"tok-{b.portal.name[-1]}-{b.code[-1]}", b.enabled) for b in others} == {(True, True)}
    assert set(Bot.objects.values_list("status", "consecutive_failures", "remote_id")) == {(BotState.OK, 2, 77)}


@pytest.mark.django_db
def test_reimport_bumps_every_named_portal(tmp_path):
    data = fleet(2, 1)
    run_import(tmp_path, data)
    Portal.objects.update(updated_at="2020-01-01T00:00:00Z")
    run_import(tmp_path, data)
    assert all(p.updated_at.year > 2020 for p in Portal.objects.all())


@pytest.mark.django_db
def test_a_bot_named_by_code_then_by_id_in_one_file_is_one_row(tmp_path):
    data = fleet(1, 0)
    data["portals"][0]["bots"] = [{"code": "a", "id": 5, "bot_token": "t1"}, {"id": 5, "bot_token": "t2"}]
    out = run_import(tmp_path, data)
    assert "1 bot(s) created, 1 updated" in out
    assert list(Bot.objects.values_list("code", "bot_id")) == [("a", 5)]
    assert Bot.objects.get().bot_token == "t2"


@pytest.mark.django_db
def test_a_new_id_in_the_file_is_accepted_with_an_event(tmp_path):
    data = fleet(1, 2)
    data["portals"][0]["bots"][0]["id"] = 5
    run_import(tmp_path, data)
    data["portals"][0]["bots"][0]["id"] = 6
    run_import(tmp_path, data)
    event = BotEvent.objects.get()
    assert (event.bot.code, event.kind, event.changes) == ("bot0", BotEvent.Kind.ID_ACCEPTED, {"id": [5, 6]})
    assert Bot.objects.get(code="bot0").pinned_id == 6


@pytest.mark.django_db
def test_an_error_in_the_last_portal_writes_nothing(tmp_path):
    run_import(tmp_path, fleet(30, 5))
    AuditLog.objects.all().delete()
    before = snapshot()
    data = fleet(31, 5, prefix="new")
    del data["portals"][30]["bots"][4]["bot_token"]
    path = tmp_path / "portals.json"
    path.write_text(json.dumps(data))
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_portals", str(path), stderr=err)
    assert excinfo.value.returncode == 2
    assert err.getvalue().splitlines() == ["portals[30].bots[4]: bot_token is required for webhook portals"]
    assert snapshot() == before
    assert not Portal.objects.filter(name="p030").exists()
    assert not AuditLog.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("run", ["fresh import", "re-import with every token changed"])
def test_an_import_of_1000_bots_reads_and_writes_in_bulk(tmp_path, run, django_assert_max_num_queries):
    """50 portals x 20 bots: a bounded number of statements, not one or two per row."""
    fresh = run == "fresh import"
    if not fresh:
        run_import(tmp_path, fleet(50, 20))
    with django_assert_max_num_queries(60):
        out = run_import(tmp_path, fleet(50, 20, prefix="tok" if fresh else "rotated"))
    assert ("50 portal(s) created" if fresh else "0 bot(s) created, 1000 updated") in out
    assert Bot.objects.count() == 1000
    assert {b.bot_token.split("-")[0] for b in Bot.objects.all()} == {"tok" if fresh else "rotated"}
