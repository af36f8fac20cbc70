"""Writing the portal file (SPEC §4): every portal and bot, secrets left out unless asked for."""

import json

import yaml
from django.db.models import Prefetch

from checks.alerts.channels import export_channel_settings
from checks.models import AuthType, Bot, Portal


def export_portal_data(*, with_secrets: bool = False) -> dict:
    portals = []
    # Bots in the order they were added, so an export reads like the file it came from.
    bots = Prefetch("bots", queryset=Bot.objects.order_by("pk"))
    for portal in Portal.objects.prefetch_related(bots).order_by("name"):
        portals.append(_export_portal(portal, with_secrets))
    return {"portals": portals}


def _export_portal(portal: Portal, with_secrets: bool) -> dict:
    item: dict = {"name": portal.name, "url": portal.url}
    if portal.auth_type == AuthType.WEBHOOK:
        item["webhook"] = {"user_id": portal.webhook_user_id}
        if with_secrets:
            item["webhook"]["code"] = portal.webhook_code
    else:
        item["oauth"] = {"client_id": portal.oauth_client_id}
        if with_secrets:
            item["oauth"].update(
                client_secret=portal.oauth_client_secret,
                access_token=portal.oauth_access_token,
                refresh_token=portal.oauth_refresh_token,
            )
    if portal.alert_emails:
        item["alert_emails"] = list(portal.alert_emails)
    if portal.interval:
        item["interval"] = portal.interval
    if portal.thresholds:
        item["thresholds"] = dict(portal.thresholds)
    if portal.paused:
        item["paused"] = True
    item.update(export_channel_settings(portal, with_secrets=with_secrets))
    item["bots"] = [_export_bot(bot, portal, with_secrets) for bot in portal.bots.all()]
    return item


def _export_bot(bot: Bot, portal: Portal, with_secrets: bool) -> dict:
    item: dict = {}
    if bot.code:
        item["code"] = bot.code
    if bot.bot_id is not None:
        item["id"] = bot.bot_id
    if with_secrets and bot.bot_token and portal.auth_type == AuthType.WEBHOOK:
        item["bot_token"] = bot.bot_token
    if not bot.enabled:
        item["enabled"] = False
    if bot.backlog_minutes is not None:
        item["backlog_minutes"] = bot.backlog_minutes
    if bot.expect:
        item["expect"] = dict(bot.expect)
    return item


def export_portal_file(*, with_secrets: bool = False, fmt: str = "yaml") -> str:
    data = export_portal_data(with_secrets=with_secrets)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
