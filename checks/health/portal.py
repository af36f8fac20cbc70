"""The portal's verdict of one run: its problems, and its status once its bots answered.

The client (checks.bitrix24.probe) reads what the probe's calls answered and classifies a portal
that refuses them; this module says what that means for the portal: a problem for a webhook
whose user is switched off or an app whose installation was never finished, `degraded` for an
otherwise working portal with a problem, and the portal's failure after all when every bot
failed alike on its side. Pure: no I/O.
"""

import copy

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from checks.bitrix24.probe import WEBHOOK_USER_OFF, PortalResult
from checks.bitrix24.types import BotResult
from checks.health.bot import Problem
from checks.status import PORTAL_FAILURES, Status

APP_NOT_INSTALLED = gettext_lazy(
    "app.info INSTALLED is false: the app's installation was never finished (installFinish), "
    "so Bitrix24 sends it no events"
)


def find_problems(result: PortalResult) -> PortalResult:
    """The problems the probe's answers reveal, once per run, right after the probe."""
    if result.user_off:
        result.problems.append(Problem("webhook_user", WEBHOOK_USER_OFF, "webhook_user"))
    if result.app_info is not None and result.app_info.installed is False:
        result.problems.append(Problem("app_installed", str(APP_NOT_INSTALLED), "app_installed"))
    return result


def settle(portal: PortalResult | None, results: list[BotResult]) -> PortalResult | None:
    """The portal's outcome once (a chunk of) its bots answered; bots failing alike on its side
    become its failure, marked as not verified by themselves (by_portal)."""
    shared = shared_failure(portal, results)
    if shared is not None:
        portal = shared
        for result in results:
            result.by_portal = True
    return finish(portal) if portal is not None else None


def finish(result: PortalResult) -> PortalResult:
    """A portal problem (the app's installation not finished) makes an otherwise working portal degraded."""
    if result.status == Status.OK and result.problems:
        result.status = Status.DEGRADED
        result.error_description = "; ".join(f"{p.check}: {p.detail}" for p in result.problems)
    elif result.status == Status.OK:
        result.error_description = "; ".join(result.notes)
    return result


def shared_failure(portal: PortalResult | None, results: list[BotResult]) -> PortalResult | None:
    """A working probe but every bot failing alike on the portal's side (a webhook without the imbot scope,
    Bot.get blocked): the portal's failure after all. None when the bots failed each on their own."""
    if portal is None or portal.failing or not results:
        return None
    first = results[0]
    same = all(r.status == first.status and r.error_code == first.error_code for r in results)
    if first.status not in PORTAL_FAILURES or not same:
        return None
    shared = copy.copy(portal)
    shared.status, shared.error_code, shared.http_status = first.status, first.error_code, first.http_status
    shared.error_description = _("every bot answered %(code)s: %(description)s") % {
        "code": first.error_code or first.status,
        "description": first.error_description,
    }
    return shared
