"""Fleet waves: one bot code gone not_found or not_owner on 3 or more portals within 15 minutes is
one wave with one email listing the portals; portals joining within the hour add no emails; each portal's
part resolves on its own and the last one resolves the wave. Verifications are recorded the way the engine
records them, then evaluated as the workers do (delivery enqueued; the rows are what is asserted)."""

import pytest

from checks.alerts import waves
from checks.alerts.incidents import send_reminders
from checks.models import Incident, IncidentEvent, Notification
from checks.status import Status
from tests.alerts.helpers import T0, evaluate_verifications, make_bot, make_portal, minutes, record
from tests.alerts.test_alerts_races import race

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ["acme", "globex", "initech", "hooli", "umbrella", "vandelay", "wonka"]


def fleet(n: int, code: str = "support_bot"):
    return [make_bot(make_portal(name), code) for name in NAMES[:n]]


def fail(bot, at, status=Status.NOT_FOUND) -> list[int]:
    return evaluate_verifications([record(bot, status, at).pk], inline=False)


def emails() -> list[tuple[str, str]]:
    return list(Notification.objects.order_by("pk").values_list("kind", "subject"))


def test_the_third_portal_opens_a_wave_and_its_one_email_lists_every_portal_gathered(settings):
    bots = fleet(5)
    fail(bots[0], T0)
    fail(bots[1], T0 + minutes(4))
    assert fail(bots[2], T0 + minutes(9)) == []  # the third: the wave opens, quietly for now
    fail(bots[3], T0 + minutes(9))  # the same sweep: gathered before the email
    [wave] = Incident.objects.filter(kind="wave")
    assert (wave.wave_code, wave.suppressed, wave.state) == ("support_bot", True, "open")
    assert emails() == [
        ("opened", "[BotWatch] BOT_NOT_FOUND: support_bot on acme"),
        ("opened", "[BotWatch] BOT_NOT_FOUND: support_bot on globex"),
    ]
    [pk] = waves.announce(wave.pk)
    assert waves.announce(wave.pk) == []  # claimed once
    notification = Notification.objects.get(pk=pk)
    assert notification.subject == "[BotWatch] Fleet wave: support_bot BOT_NOT_FOUND on 4 portals"
    assert notification.portal is None and notification.recipients == ["support@example.com"]
    for name in NAMES[:4]:
        assert f"== {name}: support_bot BOT_NOT_FOUND ==" in notification.text_body
    # A fifth portal 50 minutes later joins silently; the Alerts page lists it with the others.
    assert fail(bots[4], T0 + minutes(59)) == []
    assert len(emails()) == 3
    assert sorted(wave.parts.values_list("portal__name", flat=True)) == sorted(NAMES[:5])
    joined = IncidentEvent.objects.filter(incident=wave, kind="joined").values_list("portal__name", flat=True)
    assert sorted(joined) == sorted(NAMES[:5])


def test_two_portals_within_the_window_are_no_wave_and_a_late_third_neither():
    bots = fleet(3)
    fail(bots[0], T0)
    fail(bots[1], T0 + minutes(5))
    fail(bots[2], T0 + minutes(16))  # acme went bad more than 15 minutes before
    assert Incident.objects.filter(kind="wave").count() == 0
    assert [kind for kind, _ in emails()] == ["opened"] * 3


def test_not_owner_counts_with_not_found_and_other_codes_are_other_waves():
    bots = fleet(3)
    other = make_bot(bots[0].portal, "sales_bot")
    for bot in bots[:2]:
        fail(bot, T0, Status.NOT_OWNER)
        fail(bot, T0 + minutes(1), Status.NOT_OWNER)  # not_owner: 2 in a row
    fail(other, T0 + minutes(2))
    fail(bots[2], T0 + minutes(3))
    [wave] = Incident.objects.filter(kind="wave")
    assert sorted(wave.parts.values_list("last_status", flat=True)) == ["not_found", "not_owner", "not_owner"]
    assert Incident.objects.get(bot=other).wave is None


def test_each_part_resolves_on_its_own_and_the_last_resolves_the_wave():
    bots = fleet(3)
    for i, bot in enumerate(bots):
        fail(bot, T0 + minutes(i))
    [wave] = Incident.objects.filter(kind="wave")
    waves.announce(wave.pk)
    before = len(emails())
    for i, bot in enumerate(bots[:2]):
        assert evaluate_verifications([record(bot, Status.OK, T0 + minutes(10 + i)).pk]) == []
    wave.refresh_from_db()
    assert wave.state == "open" and wave.parts.filter(state="resolved").count() == 2
    [pk] = evaluate_verifications([record(bots[2], Status.OK, T0 + minutes(20)).pk])
    wave.refresh_from_db()
    assert wave.state == "resolved" and len(emails()) == before + 1
    assert (
        Notification.objects.get(pk=pk).subject
        == "[BotWatch] RESOLVED: fleet wave of support_bot, back on all 3 portals"
    )


def test_a_wave_over_before_its_email_resolves_silently():
    bots = fleet(3)
    for i, bot in enumerate(bots):
        fail(bot, T0 + minutes(i))
    for bot in bots:
        evaluate_verifications([record(bot, Status.OK, T0 + minutes(5)).pk])
    [wave] = Incident.objects.filter(kind="wave")
    assert wave.state == "resolved" and waves.announce(wave.pk) == []
    assert [kind for kind, _ in emails()] == ["opened", "opened"]


def test_the_sweep_announces_a_wave_whose_task_was_lost_and_reminds_one_wave(settings):
    bots = fleet(3)
    for i, bot in enumerate(bots):
        fail(bot, T0 + minutes(i))
    [wave] = Incident.objects.filter(kind="wave")
    [announced] = waves.send_wave_alerts(wave.announce_at)
    assert Notification.objects.get(pk=announced).subject.startswith("[BotWatch] Fleet wave:")
    ids = send_reminders(T0 + minutes(2 + 24 * 60))
    subjects = list(Notification.objects.filter(pk__in=ids).values_list("subject", flat=True))
    # One reminder for the wave; its parts are reminded of by it.
    assert subjects == ["[BotWatch] Still failing: fleet wave of support_bot on 3 of 3 portals"]


def test_two_portals_evaluated_at_once_cannot_both_miss_the_wave():
    bots = fleet(3)
    fail(bots[0], T0)
    rows = [record(bot, Status.NOT_FOUND, T0 + minutes(1)).pk for bot in bots[1:]]
    pending = list(rows)
    race(lambda: evaluate_verifications([pending.pop()], inline=False), workers=2)
    assert Incident.objects.filter(kind="wave").count() == 1
    assert [kind for kind, _ in emails()] == ["opened", "opened"]
