"""The portal file written out: `export_portals`, the dashboard's download, the API's portals.

Secrets are left out unless asked for; a file exported without them imports again and keeps the
stored ones.
"""

import json

import yaml
from django.db.models import Prefetch

from checks.alerts.channels import export_channel_settings
from checks.models import AuthType, Bot, Language, Portal


def export_portal_data(*, with_secrets: bool = False) -> dict:
    portals = []
    for portal in Portal.objects.prefetch_related(bots_in_file_order(with_secrets)).order_by("name"):
        portals.append(export_portal(portal, with_secrets=with_secrets))
    return {"portals": portals}


def bots_in_file_order(with_secrets: bool = False) -> Prefetch:
    # Bots in the order they were added, so an export reads like the file it came from.
    bots = Bot.objects.order_by("pk")
    return Prefetch("bots", queryset=bots if with_secrets else bots.defer("bot_token"))


def export_portal(portal: Portal, *, with_secrets: bool = False) -> dict:
    item: dict = {"name": portal.name, "url": portal.url}
    if portal.auth_type == AuthType.WEBHOOK:
        item["webhook"] = {"user_id": portal.webhook_user_id}
        if with_secrets:
            item["webhook"]["code"] = portal.webhook_code
    else:
        item["oauth"] = _export_oauth(portal, with_secrets)
    if portal.answer_webhook_user_id:
        item["answer_webhook"] = {"user_id": portal.answer_webhook_user_id}
        if with_secrets:
            item["answer_webhook"]["code"] = portal.answer_webhook_code
    if portal.alert_emails:
        item["alert_emails"] = list(portal.alert_emails)
    customer = {
        "name": portal.customer_name,
        "contacts": list(portal.customer_contacts),
        "notes": portal.customer_notes,
    }
    if any(customer.values()):
        item["customer"] = {key: value for key, value in customer.items() if value}
    if portal.tags:
        item["tags"] = list(portal.tags)
    if portal.language != Language.EN:
        item["language"] = portal.language
    if not portal.monthly_report:
        item["monthly_report"] = False
    if portal.interval:
        item["interval"] = portal.interval
    if portal.thresholds:
        item["thresholds"] = dict(portal.thresholds)
    if portal.paused:
        item["paused"] = True
    item.update(export_channel_settings(portal, with_secrets=with_secrets))
    item["bots"] = [export_bot(bot, portal, with_secrets=with_secrets) for bot in portal.bots.all()]
    return item


def _export_oauth(portal: Portal, with_secrets: bool) -> dict:
    block = {"client_id": portal.oauth_client_id}
    if portal.oauth_broker_url:
        block["broker_url"] = portal.oauth_broker_url
        if with_secrets:
            block["broker_secret"] = portal.oauth_broker_secret
    elif with_secrets:
        block.update(
            client_secret=portal.oauth_client_secret,
            access_token=portal.oauth_access_token,
            refresh_token=portal.oauth_refresh_token,
        )
    return block


def export_bot(bot: Bot, portal: Portal, *, with_secrets: bool = False) -> dict:
    item: dict = {}
    if bot.code:
        item["code"] = bot.code
    if bot.bot_id is not None:
        item["id"] = bot.bot_id
    if with_secrets and portal.auth_type == AuthType.WEBHOOK and bot.bot_token:
        item["bot_token"] = bot.bot_token
    if not bot.enabled:
        item["enabled"] = False
    if bot.backlog_minutes is not None:
        item["backlog_minutes"] = bot.backlog_minutes
    if bot.expect:
        item["expect"] = dict(bot.expect)
    if bot.answer:
        item["answer"] = dict(bot.answer)
    if bot.silence is not None:
        item["silence"] = bot.silence
    return item


def export_portal_file(*, with_secrets: bool = False, fmt: str = "yaml") -> str:
    data = export_portal_data(with_secrets=with_secrets)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
