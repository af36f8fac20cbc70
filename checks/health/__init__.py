"""The verdicts: a bot's problems and the portal's status, from what the Bitrix24 client returned.

`bot` holds a bot's health checks (user inactive, event backlog, drift, commands, re-registered)
and `assess`, which makes a working bot with problems `degraded`; `portal` holds the portal's
verdict (the webhook's user switched off, the app's installation not finished, every bot failing
alike). Pure functions of the client's results (checks.bitrix24.types, checks.bitrix24.probe):
no I/O. The engine calls them after the client (checks.engine.verify); the pages read their
rule constants from here.
"""
