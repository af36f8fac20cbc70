"""The bot page's usual messages by hour of the week, the silent hint, and "expect this"."""

from datetime import UTC, datetime, timedelta

import pytest

from checks.history import days
from checks.models import AuditLog, Bot, DailyStat
from tests.fixtures.dashboard import make_portal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]
# A Tuesday, 11:00: the bot (busy on weekdays 08:00-18:00) has had no new message since 08:00.
NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def packed_weeks(bot: Bot) -> None:
    """Five weeks of the bot's days as the history keeps them (DailyStat with its hours)."""
    count = 1000
    day = NOW.date() - timedelta(weeks=5)
    while day <= NOW.date():
        hours = []
        for hour in range(24):
            if day == NOW.date() and hour >= 11:
                hours.append(days.Hour())
                continue
            if day.weekday() < 5 and 8 <= hour < 18 and not (day == NOW.date() and hour >= 8):
                count += 5
            hours.append(days.Hour(checks=12, total_ms=1200, counters=(count, 0, 0, 0)))
        base = (count, 0, 0, 0)
        DailyStat.objects.create(bot=bot, day=day, checks=12 * 24, count_message=count, count_command=0,
                                 count_chat=0, count_user=0, hours=days.pack(hours, base))  # fmt: skip
        day += timedelta(days=1)


@pytest.fixture
def quiet_bot(django_clock) -> Bot:
    django_clock(NOW)
    portal = make_portal("acme", n_bots=1)
    bot = portal.bots.get()
    packed_weeks(bot)
    return bot


def page(client, user, bot) -> str:
    client.force_login(user)
    return client.get(f"/bots/{bot.pk}/").content.decode()


def test_the_bot_page_shows_the_usual_week_and_the_silent_hint(client, operator, quiet_bot):
    text = page(client, operator, quiet_bot)
    assert 'id="usual-messages"' in text and "data-silent-hint" in text
    assert "countMessage has stayed at" in text and "Tue 08:00" in text
    # The learned rate: 5 messages in working hours, nothing at night.
    assert 'title="Tue 9:00 — 5 messages, grew in 4 of 4 weeks"' in text
    assert 'title="Tue 3:00 — 0 messages, grew in 0 of 4 weeks"' in text
    assert "Expect this" in text and "sets silence to 63 h" in text


def test_a_quiet_night_shows_the_week_but_no_hint(client, operator, quiet_bot, django_clock):
    django_clock(NOW - timedelta(hours=8))  # Tuesday 03:00
    text = page(client, operator, quiet_bot)
    assert 'id="usual-messages"' in text and "data-silent-hint" not in text


def test_a_bot_with_a_silence_rule_has_no_learned_hint(client, operator, quiet_bot):
    Bot.objects.filter(pk=quiet_bot.pk).update(silence=3600)
    assert 'id="usual-messages"' not in page(client, operator, quiet_bot)


def test_expect_this_sets_the_silence_rule_and_is_audited(client, operator, quiet_bot):
    client.force_login(operator)
    response = client.post(f"/bots/{quiet_bot.pk}/expect-silence/")
    assert response.status_code == 302 and response["Location"] == f"/bots/{quiet_bot.pk}/"
    assert Bot.objects.get(pk=quiet_bot.pk).silence == 63 * 3600
    entry = AuditLog.objects.get(action="edit bot")
    assert entry.actor == "otto" and entry.changes["keys"] and "silence" in entry.changes["keys"]


def test_a_viewer_cannot_expect_this(client, viewer, quiet_bot):
    client.force_login(viewer)
    assert client.post(f"/bots/{quiet_bot.pk}/expect-silence/").status_code == 403
    assert Bot.objects.get(pk=quiet_bot.pk).silence is None
    assert not AuditLog.objects.exists()


def test_expect_this_only_works_by_post(client, operator, quiet_bot):
    client.force_login(operator)
    assert client.get(f"/bots/{quiet_bot.pk}/expect-silence/").status_code == 405
