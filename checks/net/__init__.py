"""The one outbound client: every call BotWatch makes outside goes through here.

Portals, the OAuth server, token brokers, the Bitrix24 chat channel (client.request) and
Apprise's channels (connection.guarded) share its rules: the address rule of
BOTWATCH_ALLOW_PRIVATE_PORTALS on the address actually connected (addresses), one wall-clock
deadline per exchange from name resolution to the last body byte (deadline), a cap on the
answer, no redirect followed, no proxy. Imports flow addresses, deadline <- connection <- client;
it imports nothing of the product but Django's settings. docs/network.md describes it.
"""
