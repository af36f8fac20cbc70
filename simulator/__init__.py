"""The Bitrix24 simulator: portals, bots, OAuth, batch, limits and faults over real HTTP.

A Django app only for its management command (`manage.py bitrix24_simulator`); its code
is plain Python and imports nothing of BotWatch. The command, the tests and bench/ use it;
product code (checks, dashboard) never does.
"""
