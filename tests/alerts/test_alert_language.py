# ruff: noqa: RUF001  (Russian text: its letters look like Latin ones on purpose)
"""Alerts in each channel's language: the instance's (BOTWATCH_LANGUAGE) for email recipients and
channels that keep it, a channel's own otherwise; one delivery per channel and incident either way.

Channels that are mailboxes (Apprise's mailto://) reach the real SMTP sink, so each language's
message is read as a person gets it.
"""

import socket

import pytest
from django.utils import translation

from checks.alerts.channel_urls import fingerprint
from checks.alerts.channels import seed_channels
from checks.alerts.notifiers import Bitrix24ChatNotifier, ChatMessage, NotifierError
from checks.engine.verify import verify_portal
from checks.models import Bot, Channel, ChannelDelivery, Notification
from checks.status import Status, status_text
from tests.alerts import test_alerts_workers as workers
from tests.alerts.helpers import T0, make_bot, make_portal, minutes, simulator_portal, sweep
from tests.fixtures.celery_worker import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_default_channels(settings):
    settings.BOTWATCH_NOTIFY_URLS = []


def mailbox(sink, to: str) -> str:
    return f"mailto://127.0.0.1:{sink.port}/{to}?from=botwatch@example.com&mode=insecure&format=text"


def named_channel(url: str, language: str) -> str:
    Channel.objects.create(name=f"team {language}", url=url, fingerprint=fingerprint(url), language=language)
    return url


def free_port() -> int:
    """A local port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def received(sink) -> dict[str, list]:
    """Messages by recipient, in the order they arrived."""
    found: dict[str, list] = {}
    for (_sender, rcpts), message in zip(sink.envelopes, sink.messages, strict=True):
        for rcpt in rcpts:
            found.setdefault(rcpt, []).append(message)
    return found


def test_russian_and_english_channels_each_get_the_incident_in_their_language_once(smtp_sink):
    ru = named_channel(mailbox(smtp_sink, "ru-team@example.com"), "ru")
    en = named_channel(mailbox(smtp_sink, "en-team@example.com"), "en")
    bot = make_bot(make_portal(notify=[ru, en]))
    sweep([bot], Status.OK, T0)
    for i in range(3):  # opens on the first, the others are the same incident
        sweep([bot], Status.NOT_FOUND, T0 + minutes(5 + i))

    # Delivered inline: every row is sent when the sweep returns.
    assert set(ChannelDelivery.objects.values_list("language", "state", "attempts")) == {
        ("ru", "sent", 1),
        ("en", "sent", 1),
    }
    got = received(smtp_sink)
    assert sorted((rcpt, len(messages)) for rcpt, messages in got.items()) == [
        ("en-team@example.com", 1),
        ("ru-team@example.com", 1),
        ("support@example.com", 1),
    ]
    [russian], [english], [email] = got["ru-team@example.com"], got["en-team@example.com"], got["support@example.com"]
    assert russian["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot на портале acme"
    text = smtp_sink.text_of(russian)
    assert "Сбой на портале acme:" in text
    assert "- support_bot: BOT_NOT_FOUND: Bot not found; не работает с 25.11.2026 09:05 UTC" in text
    assert "Что делать: На портале откройте «Приложения» > «Установленные»" in text
    assert english["Subject"] == email["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    text = smtp_sink.text_of(english)
    assert "- support_bot: BOT_NOT_FOUND: Bot not found; failing since 2026-11-25 09:05 UTC" in text
    assert "What to do: On the portal, open Applications > Installed" in text
    # Email recipients read the instance's language (English by default).
    assert "Probable causes of BOT_NOT_FOUND:" in smtp_sink.text_of(email)

    sweep([bot], Status.OK, T0 + minutes(20))
    got = received(smtp_sink)
    assert (
        got["ru-team@example.com"][1]["Subject"]
        == "[BotWatch] РЕШЕНО: support_bot на портале acme (было BOT_NOT_FOUND)"
    )
    assert "снова отвечает, сбой длился 15 мин" in smtp_sink.text_of(got["ru-team@example.com"][1])
    assert got["en-team@example.com"][1]["Subject"] == "[BotWatch] RESOLVED: support_bot on acme (was BOT_NOT_FOUND)"
    assert len(smtp_sink.messages) == 6


@pytest.mark.slow
def test_a_worker_writes_the_russian_channel_in_russian_and_the_email_in_english(celery_procs, simulator, smtp_sink):
    bot = workers.setup_portal(simulator)
    bot.portal.notify = [named_channel(mailbox(smtp_sink, "ru-team@example.com"), "ru")]
    bot.portal.save()
    workers.start_workers(celery_procs, smtp_sink)
    simulator.remove_bot("acme", "support_bot")
    workers.sweep(bot)
    wait_for(
        lambda: (
            {
                *Notification.objects.values_list("state", flat=True),
                *ChannelDelivery.objects.values_list("state", flat=True),
            }
            == {"sent"}
        ),
        30,
        "the email and the channel delivered",
    )
    # Rows are marked sent once the SMTP server took the message: everything sent has arrived.
    got = received(smtp_sink)
    assert sorted(got) == ["ru-team@example.com", "support@example.com"]
    [russian], [email] = got["ru-team@example.com"], got["support@example.com"]
    assert russian["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot на портале acme"
    assert "Что делать: На портале откройте «Приложения»" in smtp_sink.text_of(russian)
    assert email["Subject"] == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"
    assert "Probable causes of BOT_NOT_FOUND:" in smtp_sink.text_of(email)


def test_a_russian_instance_emails_in_russian_and_its_channels_follow(smtp_sink, settings):
    settings.BOTWATCH_LANGUAGE = settings.LANGUAGE_CODE = "ru"
    unseeded = mailbox(smtp_sink, "default-team@example.com")
    settings.BOTWATCH_NOTIFY_URLS = [unseeded]
    bot = make_bot(make_portal())
    sweep([bot], Status.NOT_FOUND, T0)

    # Before `migrate` seeds it, the URL of BOTWATCH_NOTIFY_URLS speaks the instance's language.
    assert ChannelDelivery.objects.get().language == "ru"
    got = received(smtp_sink)
    [email] = got["support@example.com"]
    # Django folds a non-ASCII subject onto an encoded second line; the parser keeps the fold's space.
    assert email["Subject"].strip() == "[BotWatch] BOT_NOT_FOUND: support_bot на портале acme"
    text = smtp_sink.text_of(email).replace("\r\n", "\n")  # a UTF-8 body travels base64-encoded, with CRLF
    assert text.startswith("Бот на портале acme не прошёл проверки.\n\nПортал: acme (https://acme.bitrix24.com)\n")
    assert "== support_bot на портале acme: BOT_NOT_FOUND ==" in text
    assert "Статус:            Бот не найден (not_found)\n" in text
    assert "Не работает с:     25.11.2026 09:00 UTC (уже меньше минуты)\n" in text
    assert "Успешно проверен:  ни разу\n" in text
    assert "Вероятные причины BOT_NOT_FOUND:\n" in text
    assert "  - Приложение, которое зарегистрировало чат-бота, удалили с портала" in text
    assert "Напоминания приходят каждые 24 ч, пока инцидент открыт" in text
    html = smtp_sink.html_of(email)
    assert '<html lang="ru">' in html and "Вероятные причины" in html and "25.11.2026 09:00 UTC" in html
    assert got["default-team@example.com"][0]["Subject"] == email["Subject"].strip()

    # `migrate` seeds the URL as a named channel in the instance's language.
    [seeded] = seed_channels()
    assert seeded.language == "ru" and seeded.is_default


def test_a_bitrix24_chat_gets_the_alert_in_its_language(simulator, settings):
    settings.BOTWATCH_NOTIFY_URLS = []
    simulator.add_portal("team", webhook_user_id=7, webhook_code="t3am-h00k-c0de")
    url = simulator.portal_url("team").replace("http://", "bitrix24://") + "/rest/7/t3am-h00k-c0de/?dialog=chat42"
    portal = make_portal(notify=[named_channel(url, "ru")])
    sweep([make_bot(portal)], Status.NOT_FOUND, T0)

    [posted] = simulator.messages("team")
    assert posted["message"].startswith(
        "[B][BotWatch] BOT_NOT_FOUND: support_bot на портале acme[/B]\nСбой на портале acme:\n"
    )
    assert "не работает с 25.11.2026 09:00 UTC" in posted["message"]
    # The email went to the recipients in English, once.
    assert Notification.objects.get().subject == "[BotWatch] BOT_NOT_FOUND: support_bot on acme"


def test_send_a_test_says_what_happened_in_russian(settings):
    settings.BOTWATCH_NOTIFY_TIMEOUT = 1.0
    notifier = Bitrix24ChatNotifier(f"bitrix24://127.0.0.1:{free_port()}/rest/7/c0de-of-the-team/?dialog=chat42")
    with translation.override("ru"), pytest.raises(NotifierError) as caught:
        notifier.notify(ChatMessage("[BotWatch] test", "test"))
    assert caught.value.result == "в соединении отказано"
    with translation.override("en"), pytest.raises(NotifierError) as caught:
        notifier.notify(ChatMessage("[BotWatch] test", "test"))
    assert caught.value.result == "connection refused"


def test_status_words_follow_the_active_language():
    problems = [{"check": "event_backlog", "detail": "..."}, {"check": "commands", "detail": "..."}]
    with translation.override("ru"):
        assert str(Status.NOT_FOUND.label) == "Бот не найден"
        assert status_text(Status.DEGRADED, problems) == "Работает с проблемами: события не разбираются, нет команд"
    assert str(Status.NOT_FOUND.label) == "Bot not found"
    assert status_text(Status.DEGRADED, problems) == "Degraded: event backlog, commands missing"


@pytest.mark.django_db(transaction=True)
def test_a_check_run_under_another_language_records_its_details_in_the_instances(simulator):
    """What a check finds is stored once, for every reader: in the instance's language, even when
    the run happens in a request whose viewer reads Russian."""
    portal = simulator_portal(simulator, "acme", "hook-s3cret-9e2a")
    simulator.add_bot("acme", code="queue_bot", bot_token="queue-bot-token-5c1d", event_mode="fetch")
    Bot.objects.create(portal=portal, code="queue_bot", bot_token="queue-bot-token-5c1d")
    verify_portal(portal.pk, manual=True)  # learns the bot's configuration (fetch mode)
    simulator.add_events("acme", "queue_bot", count=12, age_s=3 * 3600)
    with translation.override("ru"):
        [row] = verify_portal(portal.pk, manual=True)
    assert translation.get_language() != "ru"
    [problem] = row.problems
    assert problem["detail"] == "oldest pending event is 3 h old (threshold 15 min)"
