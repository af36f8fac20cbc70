"""Credential warnings: credentials that work today and will bite later.

Not incidents: they show on the portal and bot pages and the overview, and go out once a
week in a digest. Kept in a table refreshed hourly (and after an import or a save), so the
pages never decrypt a token to count them.
"""

import hashlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checks.alerts.channel_urls import fingerprint
from checks.alerts.channels import targets_for
from checks.alerts.messages import CHAT_BOTS, RenderedEmail, portal_secrets, scrub
from checks.alerts.queue import dispatch, queue_email
from checks.crypto import DecryptionError
from checks.models import AuthType, Bot, CredentialWarning, IncidentEvent, Portal

log = logging.getLogger(__name__)

Kind = CredentialWarning.Kind
# Bitrix24 refuses bot tokens over 40 characters in Bot.register since 06.08.2026, so a bot
# that must be registered again would fail (the chat bots change log: https://apidocs.bitrix24.com/api-reference/chat-bots/chat-bots-v2/change-log.html).
MAX_BOT_TOKEN = 40
REFRESH_TOKEN_LIFETIME = timedelta(days=180)
REFRESH_TOKEN_WARNING = timedelta(days=150)


def warnings_for(portal: Portal, bots: list[Bot], now: datetime) -> list[tuple[int | None, str, str]]:
    """(bot pk or None for the portal, kind, detail) for every credential warning of one portal."""
    found = []
    if portal.auth_type == AuthType.WEBHOOK:
        for bot in bots:
            if len(bot.bot_token or "") > MAX_BOT_TOKEN:
                detail = (
                    f"bot token is {len(bot.bot_token)} characters: Bitrix24 refuses tokens over {MAX_BOT_TOKEN} "
                    "in imbot.v2.Bot.register since 06.08.2026, so registering the bot again would fail; "
                    "rotate it with imbot.v2.Bot.update (fields.botToken, at most 40) and update BotWatch"
                )
                found.append((bot.pk, Kind.LONG_BOT_TOKEN, detail))
    issued = portal.oauth_refresh_issued_at
    if portal.auth_type == AuthType.OAUTH and portal.oauth_refresh_token and issued:
        age = now - issued
        if age > REFRESH_TOKEN_WARNING:
            expires = issued + REFRESH_TOKEN_LIFETIME
            detail = (
                f"OAuth refresh token issued {age.days} days ago; refresh tokens last 180 days "
                f"(this one until about {expires:%Y-%m-%d}): reinstall or re-authorize the application"
            )
            found.append((None, Kind.OLD_REFRESH_TOKEN, detail))
    return found


def refresh_credential_warnings(portal_ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Recompute the warnings of these portals (all when None); returns how many stand."""
    now = now or timezone.now()
    portals = Portal.objects.all() if portal_ids is None else Portal.objects.filter(pk__in=portal_ids)
    total = 0
    for portal in portals.iterator(chunk_size=200):
        try:
            bots = list(Bot.objects.filter(portal=portal).only("pk", "bot_token"))
            found = warnings_for(portal, bots, now)
        except DecryptionError:
            log.warning("portal %s: a credential cannot be decrypted; its warnings are left as they were", portal.name)
            continue
        _store(portal, found)
        total += len(found)
    return total


def _store(portal: Portal, found: list[tuple[int | None, str, str]]) -> None:
    with transaction.atomic():
        existing = {(w.bot_id, w.kind): w for w in CredentialWarning.objects.filter(portal=portal)}
        keep = set()
        for bot_pk, kind, detail in found:
            keep.add((bot_pk, kind))
            row = existing.get((bot_pk, kind))
            if row is None:
                try:
                    with transaction.atomic():
                        CredentialWarning.objects.create(portal=portal, bot_id=bot_pk, kind=kind, detail=detail)
                except IntegrityError:
                    pass  # another refresh wrote it first
            elif row.detail != detail:
                CredentialWarning.objects.filter(pk=row.pk).update(detail=detail)
        stale = [w.pk for key, w in existing.items() if key not in keep]
        CredentialWarning.objects.filter(pk__in=stale).delete()


def send_credential_digest(now: datetime | None = None, *, inline: bool = False) -> list[int]:
    """The weekly digest: one per set of recipients and channels, listing their portals' warnings.

    The key names the ISO week and the targets, so a second run in the same week (a
    redelivered task, two beats) writes nothing.
    """
    now = now or timezone.now()
    by_targets: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Portal]] = defaultdict(list)
    portals = Portal.objects.filter(credential_warnings__isnull=False).distinct().order_by("name")
    for portal in portals:
        targets = targets_for(portal)
        emails = tuple(sorted(targets.emails, key=str.lower))
        by_targets[(emails, tuple(sorted(targets.channels, key=fingerprint)))].append(portal)
    year, week, _weekday = now.isocalendar()
    ids = []
    for (recipients, channels), group in by_targets.items():
        pk = _queue_digest(recipients, channels, group, f"{year}-W{week:02}", now)
        if pk:
            ids.append(pk)
    dispatch(ids, inline=inline)
    return ids


def _queue_digest(
    recipients: tuple[str, ...], channels: tuple[str, ...], portals: list[Portal], week: str, now: datetime
) -> int | None:
    # Channels join the key only when there are some: keys written before channels stay the same.
    named = "\n".join(recipients).lower() + "".join(f"\n{fingerprint(url)}" for url in channels)
    who = hashlib.sha256(named.encode()).hexdigest()[:16]
    warnings = list(
        CredentialWarning.objects.filter(portal__in=portals).select_related("portal", "bot").order_by("portal__name")
    )
    render = partial(_render_digest, week, warnings, portals)
    key = f"digest:{week}:{who}"
    kind = IncidentEvent.Kind.DIGEST
    return queue_email(key, kind, render, [], None, list(recipients), channels=channels, now=now)


def _render_digest(week: str, warnings: list[CredentialWarning], portals: list[Portal]) -> RenderedEmail:
    grouped = _grouped(warnings)
    ctx = {"kind": "digest", "week": week, "count": len(warnings), "portals": grouped, "site_url": settings.SITE_URL}
    subject = _("[BotWatch] Weekly credential digest: %(warnings)s on %(portals)s") % {
        "warnings": ngettext("%(count)d warning", "%(count)d warnings", len(warnings)) % {"count": len(warnings)},
        "portals": ngettext("%(count)d portal", "%(count)d portals", len(portals)) % {"count": len(portals)},
    }
    secrets = [s for portal in portals for s in portal_secrets(portal)]
    text = scrub(render_to_string("emails/digest.txt", ctx), secrets)
    html = scrub(render_to_string("emails/digest.html", {**ctx, "subject": subject}), secrets)
    chat_ctx = {**ctx, "shown": grouped[:CHAT_BOTS], "hidden": max(len(grouped) - CHAT_BOTS, 0)}
    chat = scrub(render_to_string("channels/digest.txt", chat_ctx).strip(), secrets)
    subject = scrub(subject, secrets)
    return RenderedEmail(subject, text, html, subject, chat)


def _grouped(warnings: list[CredentialWarning]) -> list[dict]:
    portals: dict[str, dict] = {}
    for warning in warnings:
        entry = portals.setdefault(warning.portal.name, {"name": warning.portal.name, "items": []})
        entry["items"].append({"bot": warning.bot.label if warning.bot else "", "detail": warning.detail})
    return list(portals.values())
