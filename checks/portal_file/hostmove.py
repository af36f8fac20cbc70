"""A stored secret goes only to the host it was given for.

Secrets are write-only, so changing a portal's address must not be a way to pull them out.
When `url` or `oauth.broker_url` moves to another host (checks.net.addresses.destination),
every stored secret the portal would go on using there (webhook code, OAuth secrets, broker
secret, every bot token) must be given again, or the move accepted by an admin for exactly
those hosts (audited, old -> new). Every way in asks here: the portal file and the API
(checks.portal_file.schema), the dashboard's form and Test connection, the Django admin.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from checks.models import AuthType, Bot, Portal
from checks.net import addresses

# Each stored secret of a portal: its place in the portal file, and its column.
PORTAL_SECRETS = {
    "webhook.code": "webhook_code",
    "oauth.client_secret": "oauth_client_secret",
    "oauth.access_token": "oauth_access_token",
    "oauth.refresh_token": "oauth_refresh_token",
    "oauth.broker_secret": "oauth_broker_secret",
    "answer_webhook.code": "answer_webhook_code",
}
REFRESH_SECRETS = ("oauth.client_secret", "oauth.access_token", "oauth.refresh_token")


@dataclass(frozen=True)
class Move:
    """The addresses of a stored portal that change host: (key, old host, new host) each."""

    steps: tuple[tuple[str, str, str], ...]

    @property
    def hosts(self) -> list[str]:
        """The new hosts, as an admin accepts them (`--send-credentials-to`, the form's box)."""
        return sorted({new for _, _, new in self.steps})

    def accepted_by(self, hosts: Iterable[str]) -> bool:
        return set(self.hosts) <= {h.strip().lower() for h in hosts}

    def audit(self) -> dict:
        """What the audit log keeps of the move: each address's old and new host."""
        return {key: [old, new] for key, old, new in self.steps}

    def describe(self, name: str) -> str:
        return "; ".join(f"{key} moves {name} from {old or 'nowhere'} to {new}" for key, old, new in self.steps)


def find_move(portal: Portal | None, url: str, broker_url: str = "") -> Move | None:
    """How the addresses `url` and `broker_url` move a stored portal, or None (new portal, same hosts)."""
    if portal is None or not portal.pk:
        return None
    steps = []
    for key, old, new in (("url", portal.url, url), ("broker_url", portal.oauth_broker_url, broker_url)):
        old_host, new_host = addresses.destination(old) if old else "", addresses.destination(new) if new else None
        if new_host and old_host != new_host:
            steps.append((key, old_host or "", new_host))
    return Move(tuple(steps)) if steps else None


def stored_secrets(portal: Portal, auth_type: str, brokered: bool) -> list[str]:
    """The places of the stored secrets the portal would go on using with this auth (and its probe user's)."""
    probe = ["answer_webhook.code"] if portal.answer_webhook_code else []
    return auth_secrets(portal, auth_type, brokered) + probe


def auth_secrets(portal: Portal, auth_type: str, brokered: bool) -> list[str]:
    if portal.auth_type != auth_type:
        return []  # a switch of auth type: the new kind's secrets are given anyway
    if auth_type == AuthType.WEBHOOK:
        return ["webhook.code"] if portal.webhook_code else []
    if brokered:
        # The broker's access token is dropped on a move and fetched again; its secret stays.
        return ["oauth.broker_secret"] if portal.oauth_broker_url and portal.oauth_broker_secret else []
    if portal.oauth_broker_url:
        return []
    return [place for place in REFRESH_SECRETS if getattr(portal, PORTAL_SECRETS[place])]


def bots_with_tokens(portal: Portal, auth_type: str) -> list[Bot]:
    """The stored bots whose token a webhook portal would go on sending."""
    if portal.auth_type != AuthType.WEBHOOK or auth_type != AuthType.WEBHOOK:
        return []
    return [bot for bot in portal.bots.all() if bot.bot_token]


def secrets_left_behind(
    portal: Portal, auth_type: str, brokered: bool, given: Collection[str], renewed: Collection[int]
) -> tuple[list[str], list[Bot]]:
    """The stored secrets a moved portal would take along: (portal places, bots), those not given again.

    given: places of the portal's secrets typed now; renewed: pks of bots given a token now (or deleted).
    """
    places = [place for place in stored_secrets(portal, auth_type, brokered) if place not in given]
    bots = [bot for bot in bots_with_tokens(portal, auth_type) if bot.pk not in renewed]
    return places, bots
