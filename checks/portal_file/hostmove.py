"""A portal whose address moves to another host: which of its stored secrets would go along.

Secrets are write-only, so changing a portal's URL must not be a way to pull them out: a move
to another host (checks.bitrix24.netpolicy.destination) takes the stored webhook code, OAuth
secrets and bot tokens along only when they are given again or the move is confirmed for
exactly that host. The portal file's importer asks here; the dashboard's form has its own fields.
"""

from checks.models import Portal


def secrets_kept(item: dict, existing: Portal) -> list[str]:
    """The stored secrets an import of `item` would keep using, by their place in the file."""
    key = "webhook" if "webhook" in item else "oauth"
    block = item.get(key)
    if not isinstance(block, dict) or existing.auth_type != key:
        return []
    names = ("code",) if key == "webhook" else ("client_secret", "access_token", "refresh_token")
    stored = {"code": existing.webhook_code} if key == "webhook" else {}
    kept = [f"{key}.{n}" for n in names if not block.get(n) and (stored.get(n) or getattr(existing, f"oauth_{n}", ""))]
    tokens = stored_bot_tokens(existing) if key == "webhook" else {}
    bots = item.get("bots") if isinstance(item.get("bots"), list) else []
    for index, bot in enumerate(bots):
        if isinstance(bot, dict) and not bot.get("bot_token") and tokens.get(bot.get("code") or bot.get("id")):
            kept.append(f"bots[{index}].bot_token")
    return kept


def stored_bot_tokens(portal: Portal | None) -> dict[object, bool]:
    if portal is None:
        return {}
    return {(bot.code or bot.bot_id): bool(bot.bot_token) for bot in portal.bots.all()}
