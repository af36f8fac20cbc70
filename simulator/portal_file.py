"""The portal file (docs/portal-file.md) entry for one scenario portal: the credentials and the bots to expect."""


def portal_file_entry(url: str, portal: dict, tokens: dict[str, dict], first_ids: list[int]) -> dict:
    """The credentials BotWatch should hold, and the bots it should expect."""
    auth = portal.get("auth") or ("webhook" if portal.get("webhook") else "oauth")
    entry: dict = {"name": portal["name"], "url": url}
    bots = list(zip(portal.get("bots") or [], first_ids, strict=True))
    if auth == "webhook":
        entry["webhook"] = {"user_id": portal["webhook"]["user_id"], "code": portal["webhook"]["code"]}
        watched = [(b, i) for b, i in bots if b.get("token") is not None]
    else:
        app = portal["apps"][0]
        secret = {"broker_secret": app["broker_secret"]} if app.get("broker_secret") else {}
        entry["oauth"] = {
            "client_id": app["client_id"],
            **({} if secret else {"client_secret": app["client_secret"]}),
            **tokens[app["client_id"]],
            **secret,
        }
        watched = [(b, i) for b, i in bots if b.get("app") == app["client_id"]]
    missing = [(b, None) for b in portal.get("expected_missing") or []]
    if portal.get("answer_webhook"):
        entry["answer_webhook"] = {k: portal["answer_webhook"][k] for k in ("user_id", "code")}
    entry["bots"] = [_bot_entry(b, auth, first_id) for b, first_id in watched + missing]
    return entry


def _bot_entry(bot: dict, auth: str, first_id: int | None) -> dict:
    """A re-registered bot carries the id it had before, which BotWatch pins; expect/backlog_minutes as given."""
    out: dict = {"code": bot["code"]} if bot.get("code") else {"id": bot["id"]}
    if bot.get("reregistered") and "code" in out:
        out["id"] = first_id
    if auth == "webhook":
        out["bot_token"] = bot.get("token") or ""
    for key in ("backlog_minutes", "expect", "answer", "silence"):
        if bot.get(key) is not None:
            out[key] = bot[key]
    return out
