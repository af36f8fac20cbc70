"""Probable causes and what to do, per Bitrix24 error code and per status, for alert emails and pages.

Marked for translation (lazy): each page or email reads them in its own language (locale/).

Written from the Bitrix24 REST documentation (apidocs.bitrix24.com: authorization, limits, the
system errors every method page lists, the chat bots' change log). An error code's own entry
wins over its status's entry; a status without an entry falls back on the generic one.
"""

from django.utils.translation import gettext_lazy as _

from checks.status import Status

Guidance = tuple[list[str], list[str]]  # (probable causes, what to do)

BY_CODE: dict[str, Guidance] = {
    "BOT_NOT_FOUND": (
        [
            _("The bot was unregistered (imbot.v2.Bot.unregister or imbot.unregister), by its application or by hand."),
            _(
                "The application that registered the bot was uninstalled: Bitrix24 deletes every bot of an app "
                "when the app is removed."
            ),
            _(
                "A local application was deleted and added again: it got a new client_id, so its bots were "
                "re-registered with new ids and the old id no longer exists."
            ),
        ],
        [
            _(
                "On the portal, open Applications > Installed (or Developer resources > Integrations) and check "
                "that the bot's application is still installed."
            ),
            _("Ask the customer whether someone removed the application or the chat bot recently."),
            _(
                "Reinstall the application or register the bot again, then update the bot's id or code in BotWatch "
                "if it changed."
            ),
        ],
    ),
    "NO_AUTH_FOUND": (
        [
            _("The incoming webhook was deleted, or an administrator edited it, which regenerates its secret code."),
            _("The webhook had an expiry date that has passed, or the access token is no longer valid."),
        ],
        [
            _(
                "In the portal's Developer resources > Integrations, check that the webhook still exists "
                "with scope imbot."
            ),
            _("Create or copy the current webhook URL and update the portal's credentials in BotWatch."),
        ],
    ),
    "expired_token": (
        [
            _(
                "The OAuth access token expired and refreshing it failed: the refresh token was revoked or expired "
                "(180 days unused), or the application was reinstalled."
            ),
        ],
        [
            _("Reinstall or reauthorize the application on the portal and store the new OAuth tokens in BotWatch."),
        ],
    ),
    "invalid_token": (
        [
            _(
                "The OAuth token is not recognised: the application was uninstalled or reinstalled, "
                "which invalidates its stored tokens."
            ),
        ],
        [
            _("Check that the application is installed on the portal; reauthorize it and store the new tokens."),
        ],
    ),
    "invalid_grant": (
        [
            _("The refresh token is invalid or expired (single use; 180 days), or the app was reinstalled."),
        ],
        [
            _("Run the application's OAuth authorization again and store the new token pair in BotWatch."),
        ],
    ),
    "insufficient_scope": (
        [_("The webhook or application lacks the imbot scope.")],
        [_("Add the imbot scope to the webhook or application (reinstall the app if needed).")],
    ),
    "INVALID_CREDENTIALS": (
        [_("The webhook's user or the application's user lacks the rights for this method.")],
        [_("Use a webhook created by a user with access to chat bots, or grant the rights.")],
    ),
    "user_access_error": (
        [_("The application is limited to certain users, and the token's user is not one of them.")],
        [_("In the application's settings on the portal, give access to the user whose token BotWatch uses.")],
    ),
    "ACCESS_DENIED": (
        [_("The portal is on a plan without REST API access (REST is available only on commercial plans).")],
        [_("Ask the customer about their Bitrix24 plan; the bot cannot work until REST access is restored.")],
    ),
    "PORTAL_DELETED": (
        [_("The portal was deleted, or its public part was closed (on-premise).")],
        [_("Confirm with the customer; if the portal is gone for good, pause or remove it in BotWatch.")],
    ),
    "OVERLOAD_LIMIT": (
        [_("Bitrix24 blocked REST calls from this source by hand after abnormal load.")],
        [_("Only Bitrix24 support can lift this block: contact them, and look for runaway integrations.")],
    ),
    "QUERY_LIMIT_EXCEEDED": (
        [
            _(
                "The portal's request-rate limit (2 requests/s, 5 on Enterprise) is exhausted. The limit is shared "
                "by every application calling this portal from the same IP address."
            ),
        ],
        [
            _(
                "Check other applications or scripts calling this portal from BotWatch's server; "
                "lower BotWatch's pace for this portal if needed."
            ),
        ],
    ),
    "OPERATION_TIME_LIMIT": (
        [_("The method's resource budget (about 480 s of execution per 10 minutes for this app or webhook) is spent.")],
        [
            _(
                "Wait for the block to lift (up to 10 minutes); look for other heavy calls through the same "
                "webhook or app."
            )
        ],
    ),
    "BOT_TOKEN_NOT_SPECIFIED": (
        [_("BotWatch calls through a webhook but no bot token is stored for this bot.")],
        [_("Enter the bot token (the botToken used at registration) in the bot's settings in BotWatch.")],
    ),
    "PARAMS_REQUIRED": (
        [_("Neither a bot id nor a code was sent.")],
        [_("Give the bot a code or an id in BotWatch.")],
    ),
    "INVALID_REQUEST": (
        [_("The portal requires HTTPS and BotWatch called it over plain HTTP.")],
        [_("Change the portal's address in BotWatch to https://.")],
    ),
    "BOT_OWNERSHIP_ERROR": (
        [
            _("The bot token was rotated (imbot.v2.Bot.update fields.botToken): the old token lost access at once."),
            _("BotWatch holds the token of another bot, or the credentials of an application that is not the owner."),
        ],
        [
            _(
                "Get the bot's current token from its developers and update it in BotWatch (the bot's settings, "
                "or bot_token in the portal file)."
            ),
        ],
    ),
    "ERROR_METHOD_NOT_FOUND": (
        [_("The portal does not know imbot.v2.Bot.get: an old on-premise version, or the im/imbot modules are off.")],
        [_("Check the portal's version and that chat bots (imbot) are available on it.")],
    ),
}

BY_STATUS: dict[str, Guidance] = {
    Status.NOT_FOUND: BY_CODE["BOT_NOT_FOUND"],
    Status.NOT_OWNER: (
        [
            _("Bitrix24 answered in the brief format, without counters: the caller is not the bot's owner."),
            _("The bot token was rotated (imbot.v2.Bot.update fields.botToken) and BotWatch still has the old one."),
            _("The wrong token, or credentials of another application, are stored for this bot."),
        ],
        [
            _("Ask the bot's developers for the current bot token and update it in BotWatch."),
            _("Under OAuth, check that BotWatch uses the credentials of the application that registered the bot."),
        ],
    ),
    Status.DEGRADED: (
        [_("The bot is installed and answers, but a health check failed: see the problems above.")],
        [_("Open the bot's page for the checks, their history and the configuration it answers with.")],
    ),
    Status.AUTH_FAILED: BY_CODE["NO_AUTH_FOUND"],
    Status.MISCONFIGURED: (
        [_("BotWatch's settings for this portal or bot do not match what Bitrix24 expects.")],
        [_("Open the bot and portal settings in BotWatch and compare them with the portal.")],
    ),
    Status.PORTAL_UNAVAILABLE: (
        [_("The portal refuses REST calls: plan without REST, deleted portal, or a manual block.")],
        [_("Contact the customer (plan, portal status) or Bitrix24 support (manual block).")],
    ),
    Status.RATE_LIMITED: BY_CODE["QUERY_LIMIT_EXCEEDED"],
    Status.SERVER_ERROR: (
        [_("Bitrix24 answered with a server error (5xx): an outage or maintenance on their side.")],
        [_("Usually clears by itself; check status.bitrix24.com, and the portal in a browser.")],
    ),
    Status.UNREACHABLE: (
        [
            _("BotWatch could not reach the portal: DNS failure, refused connection, TLS error or timeout."),
            _("The portal was renamed or moved to another address."),
        ],
        [_("Open the portal's address in a browser from BotWatch's network; check DNS, firewall and certificates.")],
    ),
    Status.BAD_RESPONSE: (
        [_("The portal answered 2xx with something that is not a Bot.get result (a proxy page, a login page).")],
        [_("Check that the portal address points to Bitrix24 itself, not to a proxy or a login screen.")],
    ),
    Status.ERROR: (
        [_("Bitrix24 returned an error BotWatch does not classify; its code is shown above.")],
        [_("Look the code up in the Bitrix24 REST documentation (error codes) and on the bot's page.")],
    ),
}

# Per failed health check of a degraded bot (docs/statuses.md, "Health problems").
BY_PROBLEM: dict[str, Guidance] = {
    "event_backlog": (
        [
            _(
                "The bot's backend stopped polling imbot.v2.Event.get (crashed, stuck, lost its credentials), "
                "so the bot reads no messages."
            ),
        ],
        [
            _(
                "Restart the bot's backend and read its logs; it must poll every few seconds and acknowledge "
                "what it has read with offset."
            ),
            _("Bitrix24 deletes a fetch-mode bot's events 24 hours after they arrived, without notice."),
        ],
    ),
    "user_inactive": (
        [_("A portal administrator switched the bot's user account off: the bot is hidden and cannot answer.")],
        [_("Ask the customer's administrator to switch the bot's user back on (Employees, or the bot's profile).")],
    ),
    "drift": (
        [
            _(
                "Someone changed the bot with imbot.v2.Bot.update, or it was registered again with other settings "
                "(switching between webhook and fetch mode changes where its events go)."
            ),
        ],
        [
            _(
                "Restore the expected settings with imbot.v2.Bot.update, or, if the change was meant, "
                "update the expectation on the bot's page (Expect this)."
            ),
        ],
    ),
    "commands": (
        [_("Commands were unregistered, or the bot was registered again without them.")],
        [_("Run the bot's imbot.v2.Command.register again for each missing command.")],
    ),
    "reregistered": (
        [
            _(
                "The bot was unregistered and registered again (the application was reinstalled and got a new "
                "client_id, or its backend lost its state): the same code now belongs to a new id."
            ),
        ],
        [
            _(
                "If the new bot is yours, accept the new id on the bot's page (or set id in the portal file); "
                "chats with the old id stay with the old bot."
            ),
        ],
    ),
}

# Does the bot answer? (docs/answer-probe.md)
BY_PROBLEM["no_answer"] = (
    [
        _(
            "The bot's backend is down, crashing or answering with errors: Bitrix24 delivered the probe's message "
            "(ONIMBOTV2MESSAGEADD to its webhookUrl, or queued for imbot.v2.Event.get) and nobody wrote back."
        ),
        _("The backend is up but slower than the probe's `within`: it answers, late."),
        _("An Open Lines bot does not answer in a personal dialog: probe it in a test chat (answer.dialog) instead."),
    ],
    [
        _(
            "Dead or slow? Open the bot's page: answers that came late before (answer times near `within`) point to a "
            "slow backend; no answer at all since one moment, to a dead one. Write to the bot yourself and wait."
        ),
        _(
            "On the bot's backend: is the process up, does its handler for ONIMBOTV2MESSAGEADD log the probe's "
            "message, does its send (imbot.v2.Chat.Message.send or its own method) answer with an error?"
        ),
        _(
            "Webhook mode: is the bot's webhookUrl reachable from Bitrix24 (HTTPS, certificate, firewall)? "
            "Fetch mode: see whether its event backlog grows."
        ),
    ],
)
BY_PROBLEM["answer_refused"] = (
    [
        _(
            "The probe's credentials lack the im scope (insufficient_scope), or the probe user may not write to "
            "that dialog (ACCESS_DENIED): the bot was not asked at all."
        ),
    ],
    [
        _(
            "Give the probe user's incoming webhook the im scope (Developer resources > Integrations), or make the "
            "probe user a member of the test chat named in answer.dialog."
        ),
    ],
)
BY_PROBLEM["silent"] = (
    [
        _(
            "Nobody writes to the bot any more (its chats were closed, the widget that leads to it was removed), "
            "or the bot stopped getting its events, so its message counter stands still."
        ),
    ],
    [
        _("Write to the bot yourself and see whether countMessage moves on its page with the next check."),
        _("If quiet hours are normal for this bot, raise its silence (seconds) on the portal page or in the file."),
    ],
)

# Problems of a portal itself (docs/statuses.md, "Portal statuses").
BY_PROBLEM["webhook_user"] = (
    [
        _(
            "The user who created the incoming webhook was dismissed or switched off: profile answers an empty "
            "object, and the webhook stops working with its user (or already did)."
        ),
    ],
    [
        _(
            "Ask the customer's administrator whether the user was dismissed; if the integrations were to be kept, "
            "they move to a system user, otherwise create a new webhook as an active user (scope imbot)."
        ),
        _("Update the portal's webhook in BotWatch; its bots are verified again with the next check."),
    ],
)
BY_PROBLEM["app_installed"] = (
    [
        _(
            "The app's installation was started but never finished (BX24.installFinish was not called): "
            "until it is, Bitrix24 sends the app no events, so its bots read nothing."
        ),
    ],
    [
        _("Open the app on the portal as an administrator so that its installer runs to the end, or reinstall it."),
    ],
)

GENERIC: Guidance = ([_("See the error code and description above.")], [_("Open the bot's page for its history.")])


def guidance_for_problem(check: str) -> Guidance:
    return BY_PROBLEM.get(check) or GENERIC


def guidance_for(status: str, error_code: str = "") -> Guidance:
    """(probable causes, what to do) for an alert about `status` with Bitrix24 `error_code`."""
    return BY_CODE.get(error_code) or BY_STATUS.get(status) or GENERIC


def guidance_blocks(status: str, error_code: str = "", problems: list | None = None) -> list[dict]:
    """What emails and pages show under a failure: one block per failed health check, else one for
    the status (or its error code). Each block: code, causes, actions."""
    checks = sorted({str(p.get("check", "")) for p in problems or []} - {""})
    if checks:
        return [_block(check, guidance_for_problem(check)) for check in checks]
    return [_block(error_code or str(status).upper(), guidance_for(status, error_code))]


def _block(code: str, guidance: Guidance) -> dict:
    causes, actions = guidance
    return {"code": code, "causes": causes, "actions": actions}
