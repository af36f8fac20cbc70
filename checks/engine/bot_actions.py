"""What operators do to a bot's health checks: accept a new id, expect what it answers with."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.engine.dispatch import check_now
from checks.health.bot import describe_changes
from checks.models import Bot, BotEvent


class ActionRefused(Exception):
    """The action does not fit the bot's current state; the message says why."""


def accept_new_id(bot: Bot, new_id: int, user=None) -> None:
    """Verify the bot by `new_id` from now on: the id its code answers with after a re-registration.

    Only the id the portal reported (Bot.remote_id) is accepted, so a stale page cannot pin
    an id nobody has seen. Then the bot is checked at once.
    """
    if bot.remote_id != new_id or new_id == bot.pinned_id:
        raise ActionRefused(f"{bot.label} answers as #{bot.remote_id}, pinned to #{bot.pinned_id}: reload the page")
    changes = {"id": [bot.pinned_id, new_id]}
    try:
        with transaction.atomic():
            updated = Bot.objects.filter(pk=bot.pk, remote_id=new_id, pinned_id=bot.pinned_id).update(
                pinned_id=new_id, bot_id=new_id if bot.bot_id else None, next_check_at=timezone.now()
            )
            if not updated:
                raise ActionRefused(f"{bot.label} changed meanwhile: reload the page")
            BotEvent.objects.create(
                bot=bot, kind=BotEvent.Kind.ID_ACCEPTED, changes=changes, user=user, note=f"new id {new_id} accepted"
            )
    except IntegrityError:
        raise ActionRefused(f"id {new_id} is already used by another bot of {bot.portal.name}") from None
    bot.refresh_from_db()
    check_now(bot.portal_id)


def expect_configuration(bot: Bot, event: BotEvent | None = None, user=None) -> dict:
    """Expect what the bot now answers with: one change's new values, or its whole configuration.

    Returns the fields set. A later change of those fields is then drift, a problem that alerts.
    """
    if event is not None:
        if event.bot_id != bot.pk or event.kind != BotEvent.Kind.CONFIG_CHANGED:
            raise ActionRefused("that history entry is not a configuration change of this bot")
        values = {name: after for name, (_before, after) in event.changes.items()}
    else:
        values = dict(bot.baseline or {})
    if not values:
        raise ActionRefused(f"{bot.label} has not answered with its configuration yet")
    before = bot.expect or {}
    expect = {**before, **values}
    changes = {name: [before.get(name), value] for name, value in values.items() if before.get(name) != value}
    with transaction.atomic():
        Bot.objects.filter(pk=bot.pk).update(expect=expect)
        BotEvent.objects.create(
            bot=bot, kind=BotEvent.Kind.EXPECT_SET, changes=changes, user=user, note=describe_changes(changes)
        )
    bot.expect = expect
    return values
